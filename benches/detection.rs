//! Detection-time benchmark of issue 3: how long after a rollout's failure becomes certain
//! the real `ecs-deploy` binary exits, per failure scenario, next to what the official
//! deploy action's "wait until services are stable" loop would do on the same timeline.
//!
//! Each scenario starts a private moto, seeds the DataSpace services and puts a scripted ECS
//! stand-in in front of it (the same support code as the integration tests). The stand-in's
//! story is a schedule of times since the binary's `UpdateService` (its clock): fixed
//! half-way between polls, or pinned 5 ms after a poll was answered (the worst case, found
//! while the binary polls). Answers are a function of that clock, so after the run the
//! baseline waiter (polling every 15 s, run in-process against the stand-in on a virtual
//! clock, never actually waiting) replays the very timeline the binary saw. Runs with
//! `rollback-on-failure: false`: the figure is detection, not rollback.
//!
//! `cargo bench --bench detection` (cargo builds the binary first). It needs moto_server, found
//! like the integration tests find it: `ECS_DEPLOY_MOTO_SERVER`, else
//! `~/.cache/ecs-deploy/venv/bin/moto_server` (`scripts/install-moto.sh` installs it).

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use support::seed::{self, APP_CONTAINER, APP_REPO, CLUSTER};
use support::{
    amz_target, forward, moto, push_image, seed_dataspace, HttpServer, Moto, MotoOptions, Request,
    Response, Run, Seeded,
};

/// The binary's `poll-interval-seconds` in this benchmark.
const POLL: Duration = Duration::from_secs(1);
/// The official action: `WAIT_DEFAULT_DELAY_SEC = 15`, `wait-for-minutes` default 30, the
/// SDK's `servicesStable` waiter with `maxAttempts = minutes * 60 / 15`.
const BASELINE_DELAY_S: f64 = 15.0;
const BASELINE_CAP_S: f64 = 30.0 * 60.0;
/// A request header only this benchmark sends: the stand-in answers as of that many seconds
/// after the `UpdateService` instead of as of now.
const VIRTUAL_CLOCK: &str = "X-Bench-At";
const ECS_TARGET: &str = "AmazonEC2ContainerServiceV20141113";
const OLD_ID: &str = "ecs-svc/1000000000000000001";
const NEW_ID: &str = "ecs-svc/4000000000000000001";

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scenario {
    /// The first task of the new revision fails to pull its image; ECS keeps retrying.
    PullError,
    /// The essential container exits 1, one task per second (one per poll of the binary).
    Exits,
    /// The rollout turns FAILED (circuit breaker without rollback).
    RolloutFailed,
    /// The circuit breaker rolls back: our deployment disappears, the old one is PRIMARY.
    CircuitBreaker,
}

const SCENARIOS: [Scenario; 4] = [
    Scenario::PullError,
    Scenario::Exits,
    Scenario::RolloutFailed,
    Scenario::CircuitBreaker,
];

/// Where the failure lands relative to the binary's polls.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Half a poll after the binary's last look: the typical case.
    MidPoll,
    /// 5 ms after the binary's look was answered: the worst case, a whole poll to wait.
    AfterPoll,
}

impl Phase {
    fn label(self) -> &'static str {
        match self {
            Phase::MidPoll => "mid-poll",
            Phase::AfterPoll => "just after a poll",
        }
    }
}

impl Scenario {
    fn label(self) -> &'static str {
        match self {
            Scenario::PullError => "(a) CannotPullContainerError",
            Scenario::Exits => "(b) container exits 1 ×3",
            Scenario::RolloutFailed => "(c) rolloutState FAILED",
            Scenario::CircuitBreaker => "(d) circuit breaker rollback",
        }
    }

    fn story(self) -> &'static str {
        match self {
            Scenario::PullError => "the 1st task stops with CannotPullContainerError, ECS retries every 10 s, breaker off",
            Scenario::Exits => "one task exits 1 per poll of the binary; the 3rd makes the failure certain, breaker off",
            Scenario::RolloutFailed => "rolloutState turns FAILED, the old deployment stays ACTIVE (breaker without rollback)",
            Scenario::CircuitBreaker => "our deployment disappears, the old one is PRIMARY again and COMPLETED 2 s later",
        }
    }

    /// How many story events make the failure certain (the last of them does).
    fn events_needed(self) -> usize {
        match self {
            Scenario::Exits => 3,
            _ => 1,
        }
    }

    /// The story's event times, in seconds after the UpdateService, when they land mid-poll.
    fn mid_poll_schedule(self) -> Vec<f64> {
        match self {
            Scenario::PullError => vec![0.5],
            Scenario::Exits => vec![0.5, 1.5, 2.5],
            Scenario::RolloutFailed | Scenario::CircuitBreaker => vec![2.5],
        }
    }

    /// When the events land just after a poll: event `k` of the schedule lands right after
    /// this poll of the binary (counting its DescribeServices calls after the update, from 1).
    fn anchor_poll(self, k: usize) -> usize {
        match self {
            Scenario::PullError => 1,
            Scenario::Exits => k + 1,
            Scenario::RolloutFailed | Scenario::CircuitBreaker => 3,
        }
    }

    /// What the binary must have said, to make sure the figure is for the right path.
    fn expected_message(self) -> &'static str {
        match self {
            Scenario::PullError => "retrying cannot fix",
            Scenario::Exits => "3 tasks of the new revision failed",
            Scenario::RolloutFailed => "rollout FAILED",
            Scenario::CircuitBreaker => "ECS rolled the deployment back",
        }
    }
}

/// The deployment the binary started, as the stand-in saw it.
#[derive(Clone)]
struct Update {
    td: String,
    at: Instant,
    epoch: f64,
}

struct Script {
    scenario: Scenario,
    phase: Phase,
    /// The story's event times, seconds after the UpdateService (see `Scenario::anchor_poll`).
    schedule: Vec<f64>,
    /// The binary's DescribeServices calls since its UpdateService.
    polls: usize,
    moto_url: String,
    service: String,
    old_td: String,
    update: Option<Update>,
    updates: usize,
    /// When the stand-in first served an answer from which the failure is certain.
    certain_served: Option<Instant>,
}

fn epoch_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

impl Script {
    /// Seconds into the story for this request: the virtual clock when the baseline asks,
    /// the real time since the UpdateService otherwise; `None` before any update.
    fn clock(&self, req: &Request) -> Option<f64> {
        let u = self.update.as_ref()?;
        Some(match req.header(VIRTUAL_CLOCK) {
            Some(v) => v.parse().expect("a number of seconds in X-Bench-At"),
            None => u.at.elapsed().as_secs_f64(),
        })
    }

    /// Seconds after the update at which the failure became certain, once it has.
    fn certain_at(&self) -> Option<f64> {
        (self.schedule.len() >= self.scenario.events_needed())
            .then(|| self.schedule[self.scenario.events_needed() - 1])
    }

    fn failed_by(&self, t: f64) -> bool {
        self.certain_at().is_some_and(|c| t >= c)
    }

    /// When each task of the new revision that has stopped by `t` stopped.
    fn task_stops(&self, t: f64) -> Vec<f64> {
        let Some(&first) = self.schedule.first() else {
            return Vec::new();
        };
        let (scheduled, every) = match self.scenario {
            Scenario::PullError => (vec![first], 10.0),
            Scenario::Exits => (self.schedule.clone(), 1.0),
            Scenario::RolloutFailed | Scenario::CircuitBreaker => return Vec::new(),
        };
        // After the scheduled ones, ECS keeps starting tasks that fail the same way (the
        // first half a period later, so the binary's next look still sees the scheduled count).
        let last = *scheduled.last().unwrap();
        let later = (1..).map(|k| last + 0.5 + every * f64::from(k));
        let mut stops: Vec<f64> = scheduled.into_iter().take_while(|at| *at <= t).collect();
        if self.schedule.len() >= self.scenario.events_needed() {
            stops.extend(later.take_while(|at| *at <= t));
        }
        stops
    }

    /// Counts one look of the binary and, when the failure is to land just after a poll,
    /// schedules the story's next event right after this answer.
    fn polled(&mut self) {
        let Some(u) = self.update.as_ref() else {
            return;
        };
        self.polls += 1;
        let k = self.schedule.len();
        if self.phase == Phase::AfterPoll
            && k < self.scenario.events_needed()
            && self.polls >= self.scenario.anchor_poll(k)
        {
            let at = u.at.elapsed().as_secs_f64() + 0.005;
            self.schedule.push(at);
        }
    }

    fn mark_certain(&mut self, req: &Request) {
        if req.header(VIRTUAL_CLOCK).is_none() && self.certain_served.is_none() {
            self.certain_served = Some(Instant::now());
        }
    }

    fn deployments(&self, t: Option<f64>) -> Vec<Value> {
        let old = |status: &str, rollout: &str| {
            deployment(
                OLD_ID,
                status,
                &self.old_td,
                (0, 1, 0),
                rollout,
                1_767_000_000.0,
            )
        };
        let (Some(t), Some(u)) = (t, self.update.as_ref()) else {
            return vec![old("PRIMARY", "COMPLETED")];
        };
        let ours =
            |counts, rollout: &str| deployment(NEW_ID, "PRIMARY", &u.td, counts, rollout, u.epoch);
        let failed = self.task_stops(t).len() as i64;
        let certain = self.failed_by(t);
        match self.scenario {
            Scenario::PullError | Scenario::Exits => {
                vec![
                    ours((1, 0, failed), "IN_PROGRESS"),
                    old("ACTIVE", "COMPLETED"),
                ]
            }
            Scenario::RolloutFailed if certain => {
                vec![ours((0, 0, 0), "FAILED"), old("ACTIVE", "COMPLETED")]
            }
            Scenario::CircuitBreaker if certain => {
                let done = self.certain_at().is_some_and(|c| t >= c + 2.0);
                let rollout = if done { "COMPLETED" } else { "IN_PROGRESS" };
                vec![old("PRIMARY", rollout)]
            }
            Scenario::RolloutFailed | Scenario::CircuitBreaker => {
                vec![ours((1, 0, 0), "IN_PROGRESS"), old("ACTIVE", "COMPLETED")]
            }
        }
    }

    fn events(&self, t: Option<f64>) -> Vec<Value> {
        let (Some(t), Some(u)) = (t, self.update.as_ref()) else {
            return Vec::new();
        };
        let name = &self.service;
        let mut story = vec![(
            0.1,
            format!("(service {name}) has started 1 tasks: (task 0f5e1a2b3c4d)."),
        )];
        let c = self.certain_at().unwrap_or(f64::INFINITY);
        match self.scenario {
            Scenario::RolloutFailed => story.push((
                c,
                format!("(service {name}) (deployment {NEW_ID}) deployment failed: tasks failed to start."),
            )),
            Scenario::CircuitBreaker => {
                story.push((
                    c,
                    format!("(service {name}) (deployment {NEW_ID}) deployment failed: tasks failed to start."),
                ));
                story.push((
                    c,
                    format!("(service {name}) rolling back to deployment {OLD_ID}."),
                ));
                story.push((c + 2.0, format!("(service {name}) has reached a steady state.")));
            }
            Scenario::PullError | Scenario::Exits => {}
        }
        story
            .into_iter()
            .enumerate()
            .filter(|(_, (at, _))| *at <= t)
            .map(|(n, (at, message))| {
                json!({
                    "id": format!("{:08x}-0000-4000-8000-000000000000", n + 1),
                    "createdAt": u.epoch + at,
                    "message": message,
                })
            })
            .rev()
            .collect()
    }

    fn tasks(&self, t: Option<f64>) -> Vec<Value> {
        let (Some(t), Some(u)) = (t, self.update.as_ref()) else {
            return Vec::new();
        };
        self.task_stops(t)
            .into_iter()
            .enumerate()
            .map(|(n, at)| stopped_task(self.scenario, n, &u.td, &self.service, u.epoch + at))
            .collect()
    }
}

fn deployment(
    id: &str,
    status: &str,
    td: &str,
    (pending, running, failed): (i64, i64, i64),
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
        "updatedAt": epoch_now(),
        "launchType": "FARGATE",
        "rolloutState": rollout,
        "rolloutStateReason": reason,
    })
}

fn task_id(n: usize) -> String {
    format!("{:032x}", 0xabc0_0000usize + n)
}

fn stopped_task(scenario: Scenario, n: usize, td: &str, service: &str, stopped_at: f64) -> Value {
    let id = task_id(n);
    let arn = format!(
        "arn:aws:ecs:us-east-1:{}:task/{CLUSTER}/{id}",
        moto::ACCOUNT_ID
    );
    let (stop_code, reason, exit) = match scenario {
        Scenario::PullError => (
            "TaskFailedToStart",
            format!(
                "CannotPullContainerError: pull image manifest has been retried 7 time(s): failed to resolve ref {0}:v2: {0}:v2: not found",
                seed::repo_uri(APP_REPO)
            ),
            None,
        ),
        _ => (
            "EssentialContainerExited",
            "Essential container in task exited".to_string(),
            Some(1),
        ),
    };
    let mut container = json!({
        "containerArn": format!("arn:aws:ecs:us-east-1:{}:container/{CLUSTER}/{id}/c1", moto::ACCOUNT_ID),
        "taskArn": arn,
        "name": APP_CONTAINER,
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
        "startedBy": NEW_ID,
        "lastStatus": "STOPPED",
        "desiredStatus": "STOPPED",
        "launchType": "FARGATE",
        "stopCode": stop_code,
        "stoppedReason": reason,
        "stoppedAt": stopped_at,
        "containers": [container],
    })
}

fn handle(script: &Mutex<Script>, req: &Request) -> Response {
    let mut s = script.lock().unwrap();
    match amz_target(req) {
        Some("UpdateService") => {
            let answer = forward(&s.moto_url, req);
            if answer.status != 200 {
                return answer;
            }
            let mut json: Value = serde_json::from_slice(&answer.body).unwrap();
            // Real ECS starts a new deployment with a fresh id; moto keeps the old one.
            for d in json["service"]["deployments"]
                .as_array_mut()
                .into_iter()
                .flatten()
            {
                if d["status"] == "PRIMARY" {
                    d["id"] = json!(NEW_ID);
                }
            }
            s.updates += 1;
            if s.update.is_none() {
                s.update = Some(Update {
                    td: json["service"]["taskDefinition"]
                        .as_str()
                        .unwrap_or_default()
                        .to_string(),
                    at: Instant::now(),
                    epoch: epoch_now(),
                });
            }
            Response::aws_json(&json)
        }
        Some("DescribeServices") => {
            let answer = forward(&s.moto_url, req);
            if answer.status != 200 {
                return answer;
            }
            let t = s.clock(req);
            let mut json: Value = serde_json::from_slice(&answer.body).unwrap();
            for service in json["services"].as_array_mut().into_iter().flatten() {
                if service["serviceName"] != json!(s.service) {
                    continue;
                }
                let deployments = s.deployments(t);
                let breaker = match s.scenario {
                    Scenario::PullError | Scenario::Exits => {
                        json!({ "enable": false, "rollback": false })
                    }
                    Scenario::RolloutFailed => json!({ "enable": true, "rollback": false }),
                    Scenario::CircuitBreaker => json!({ "enable": true, "rollback": true }),
                };
                service["deploymentConfiguration"] = json!({
                    "maximumPercent": 200,
                    "minimumHealthyPercent": 100,
                    "deploymentCircuitBreaker": breaker,
                });
                if let Some(p) = deployments.iter().find(|d| d["status"] == "PRIMARY") {
                    service["runningCount"] = p["runningCount"].clone();
                    service["pendingCount"] = p["pendingCount"].clone();
                    service["taskDefinition"] = p["taskDefinition"].clone();
                }
                service["events"] = json!(s.events(t));
                service["deployments"] = json!(deployments);
            }
            let certain = matches!(
                s.scenario,
                Scenario::RolloutFailed | Scenario::CircuitBreaker
            ) && t.is_some_and(|t| s.failed_by(t));
            let response = Response::aws_json(&json);
            if certain {
                s.mark_certain(req);
            }
            if req.header(VIRTUAL_CLOCK).is_none() {
                s.polled();
            }
            response
        }
        Some("ListTasks") => {
            let t = s.clock(req);
            let arns: Vec<Value> = s.tasks(t).iter().map(|t| t["taskArn"].clone()).collect();
            Response::aws_json(&json!({ "taskArns": arns }))
        }
        Some("DescribeTasks") => {
            let t = s.clock(req);
            let body = req.json();
            let wanted: Vec<&str> = body["tasks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let tasks: Vec<Value> = s
                .tasks(t)
                .into_iter()
                .filter(|t| wanted.contains(&t["taskArn"].as_str().unwrap_or_default()))
                .collect();
            let certain = match s.scenario {
                Scenario::PullError => !tasks.is_empty(),
                Scenario::Exits => tasks.len() >= 3,
                Scenario::RolloutFailed | Scenario::CircuitBreaker => false,
            };
            let response = Response::aws_json(&json!({ "tasks": tasks, "failures": [] }));
            if certain {
                s.mark_certain(req);
            }
            response
        }
        Some("GetLogEvents") => {
            let body = req.json();
            let stream = body["logStreamName"].as_str().unwrap_or_default();
            let ours = s.scenario == Scenario::Exits
                && (0..16).any(|n| stream == format!("app/{APP_CONTAINER}/{}", task_id(n)));
            if !ours {
                return Response::aws_error(
                    400,
                    "ResourceNotFoundException",
                    "The specified log stream does not exist.",
                );
            }
            let t = (epoch_now() * 1000.0) as i64;
            let events: Vec<Value> = [
                "booting dataspace worker 1",
                "django.core.exceptions.ImproperlyConfigured: The SECRET_KEY setting must not be empty.",
            ]
            .iter()
            .map(|m| json!({ "timestamp": t, "message": m, "ingestionTime": t }))
            .collect();
            Response::aws_json(&json!({
                "events": events,
                "nextForwardToken": "f/00000000000000000000000000000000000000000000000000000001",
                "nextBackwardToken": "b/00000000000000000000000000000000000000000000000000000000",
            }))
        }
        _ => {
            let url = s.moto_url.clone();
            drop(s);
            forward(&url, req)
        }
    }
}

/// What the official action's wait would have done on the same story.
#[derive(Clone, Copy, Debug)]
enum Baseline {
    /// The waiter's success rule held at that many seconds after the update: the action
    /// reports a successful deploy.
    Success(f64),
    /// A failure rule held (service MISSING, DRAINING or INACTIVE).
    Failure(f64),
    /// Neither held before `wait-for-minutes` ran out.
    Cap,
}

/// The `servicesStable` waiter of the AWS SDKs, polled on the stand-in's virtual clock:
/// success only when every service has exactly one deployment and runningCount equals
/// desiredCount; failure only when a service is MISSING, DRAINING or INACTIVE. It looks at
/// nothing else (not rolloutState, not stopped tasks).
fn baseline(stand_in_url: &str, service: &str) -> Baseline {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let body = json!({ "cluster": CLUSTER, "services": [service] }).to_string();
    let attempts = (BASELINE_CAP_S / BASELINE_DELAY_S) as u32;
    for attempt in 0..attempts {
        let at = f64::from(attempt) * BASELINE_DELAY_S;
        let mut answer = agent
            .post(stand_in_url)
            .header("X-Amz-Target", format!("{ECS_TARGET}.DescribeServices"))
            .header("Content-Type", "application/x-amz-json-1.1")
            .header("Authorization", moto::authorization("ecs"))
            .header(VIRTUAL_CLOCK, at.to_string())
            .send(body.as_bytes())
            .expect("asking the stand-in for DescribeServices");
        assert_eq!(answer.status(), 200, "baseline DescribeServices");
        let json: Value =
            serde_json::from_slice(&answer.body_mut().read_to_vec().unwrap()).unwrap();
        let failures = json["failures"].as_array().cloned().unwrap_or_default();
        let services = json["services"].as_array().cloned().unwrap_or_default();
        if failures.iter().any(|f| f["reason"] == "MISSING")
            || services
                .iter()
                .any(|s| s["status"] == "DRAINING" || s["status"] == "INACTIVE")
        {
            return Baseline::Failure(at);
        }
        let stable = services.iter().all(|s| {
            s["deployments"].as_array().map_or(0, Vec::len) == 1
                && s["runningCount"] == s["desiredCount"]
        });
        if stable {
            return Baseline::Success(at);
        }
    }
    Baseline::Cap
}

struct Measured {
    scenario: Scenario,
    phase: Phase,
    /// Seconds after the UpdateService at which the story made the failure certain.
    certain_at: f64,
    /// From that moment to the exit.
    event_to_exit: Duration,
    /// From the first served answer showing the failure to the exit.
    served_to_exit: Duration,
    /// The binary's DescribeServices calls after its UpdateService.
    polls: usize,
    baseline: Baseline,
}

fn run_scenario(scenario: Scenario, phase: Phase) -> Measured {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    let s: Seeded = seed_dataspace(&moto);
    push_image(&moto, APP_REPO, "v2");
    let script = Arc::new(Mutex::new(Script {
        scenario,
        phase,
        schedule: match phase {
            Phase::MidPoll => scenario.mid_poll_schedule(),
            Phase::AfterPoll => Vec::new(),
        },
        polls: 0,
        moto_url: moto.url(),
        service: s.app_service.clone(),
        old_td: s.app_task_definition_arn.clone(),
        update: None,
        updates: 0,
        certain_served: None,
    }));
    let shared = Arc::clone(&script);
    let server = HttpServer::start(move |req| handle(&shared, req));

    let mut app = seed::app_task_definition(&s.app_repo_uri);
    app["containerDefinitions"][0]["image"] = json!(format!("{}:v2", s.app_repo_uri));
    let outcome = Run::new(&server.url())
        .input("cluster", CLUSTER)
        .input("service", &s.app_service)
        .input("task-definition", "aws/app.json")
        .input("poll-interval-seconds", &POLL.as_secs().to_string())
        .input("rollback-on-failure", "false")
        .file("aws/app.json", &serde_json::to_string_pretty(&app).unwrap())
        .run();
    let exited = Instant::now();

    let (update, served, updates, certain_at, polls) = {
        let s = script.lock().unwrap();
        (
            s.update.clone(),
            s.certain_served,
            s.updates,
            s.certain_at(),
            s.polls,
        )
    };
    let fail = |what: &str| -> ! {
        panic!(
            "{} ({}): {what}\n{}",
            scenario.label(),
            phase.label(),
            outcome.all_text()
        )
    };
    if outcome.code != 1 {
        fail("expected exit code 1");
    }
    if outcome.outputs.get("result").map(String::as_str) != Some("failed") {
        fail("expected result `failed` (rollback-on-failure is false)");
    }
    if !outcome.all_text().contains(scenario.expected_message()) {
        fail(&format!(
            "expected {:?} in the output",
            scenario.expected_message()
        ));
    }
    if updates != 1 {
        fail("expected exactly one UpdateService (no rollback)");
    }
    let update = update.unwrap_or_else(|| fail("the binary never updated the service"));
    let Some(certain_at) = certain_at else {
        fail("the story never reached its failure")
    };
    let Some(served) = served else {
        fail("the stand-in never served the answer that shows the failure")
    };
    let certain = update.at + Duration::from_secs_f64(certain_at);
    let baseline = baseline(&server.url(), &s.app_service);
    Measured {
        scenario,
        phase,
        certain_at,
        event_to_exit: exited.saturating_duration_since(certain),
        served_to_exit: exited.saturating_duration_since(served),
        polls,
        baseline,
    }
}

fn ms(d: Duration) -> u128 {
    d.as_millis()
}

fn baseline_text(b: Baseline, certain_at: f64) -> String {
    match b {
        Baseline::Success(at) => format!(
            "exits {:.1} s later reporting SUCCESS (wrong)",
            (at - certain_at).max(0.0)
        ),
        Baseline::Failure(at) => format!("fails {:.1} s later", (at - certain_at).max(0.0)),
        Baseline::Cap => "30 min (cap): never fails early".to_string(),
    }
}

fn main() {
    let bin = Path::new(env!("CARGO_BIN_EXE_ecs-deploy"));
    assert!(
        bin.exists(),
        "{} is missing: run `cargo bench --bench detection` (it builds the binary first)",
        bin.display()
    );
    let target = POLL + Duration::from_millis(1000);
    let verdict = |d: Duration| if d <= target { "ok" } else { "OVER" };
    println!("detection benchmark (issue 3), binary {}", bin.display());
    println!(
        "poll-interval-seconds = {}, rollback-on-failure = false: the figures are detection to exit, not rollback",
        POLL.as_secs()
    );
    println!("detection-to-exit: from the moment the stand-in's story makes the failure certain (the third failed task, the FAILED state, ...) to the process exit; served-to-exit: from the stand-in's first answer that showed it");
    println!("each scenario runs twice: the failure landing mid-poll, and 5 ms after a poll was answered (the worst case: a whole poll before the binary looks again)");
    println!("(exit observed by polling the child every 20 ms)\n");

    let started = Instant::now();
    let mut rows = Vec::new();
    for scenario in SCENARIOS {
        println!("{}: {}", scenario.label(), scenario.story());
        for phase in [Phase::MidPoll, Phase::AfterPoll] {
            let m = run_scenario(scenario, phase);
            println!(
                "  {:<18} detection-to-exit {:>5} ms  (target <= poll + 1000 ms = {} ms: {}; failure at +{:.2} s, served-to-exit {} ms)",
                phase.label(),
                ms(m.event_to_exit),
                ms(target),
                verdict(m.event_to_exit),
                m.certain_at,
                ms(m.served_to_exit),
            );
            rows.push(m);
        }
    }

    println!();
    println!("| scenario | failure lands | detection-to-exit | served-to-exit | target | polls after update | baseline: services-stable, 15 s poll, 30 min cap |");
    println!("|---|---|---|---|---|---|---|");
    for m in &rows {
        println!(
            "| {} | {} (+{:.2} s) | {} ms | {} ms | <= {} ms {} | {} | {} |",
            m.scenario.label(),
            m.phase.label(),
            m.certain_at,
            ms(m.event_to_exit),
            ms(m.served_to_exit),
            ms(target),
            verdict(m.event_to_exit),
            m.polls,
            baseline_text(m.baseline, m.certain_at),
        );
    }
    println!(
        "\nbaseline: the official action's `servicesStable` waiter (success only with one deployment and runningCount == desiredCount; failure only on MISSING, DRAINING or INACTIVE; blind to rolloutState and stopped tasks), polled every {BASELINE_DELAY_S} s from the update on the stand-in's virtual clock (the SDK's backoff can only stretch real polls)"
    );
    println!("whole benchmark: {:.1} s", started.elapsed().as_secs_f64());
}
