//! The scripted AWS stand-in (DESIGN.md sections 7 and 15): one small HTTP server in front of
//! moto that answers, from a per-test script, the calls moto cannot play (rollout progress,
//! stopped tasks, their logs) and forwards every other call to moto unchanged. The
//! integration tests (`tests/it/rollout.rs`) and the detection benchmark
//! (`benches/detection.rs`) both use it.
//!
//! # Using it
//!
//! ```ignore
//! let ecs = StandIn::builder(&moto, &seeded)
//!     .service(&seeded.app_service, Plot::Complete(2.0))
//!     .strategy(&seeded.app_service, "BLUE_GREEN")
//!     .bake_time(&seeded.app_service, 30)
//!     .start();
//! let o = Run::new(&ecs.url())/* inputs */.run();
//! assert_eq!(ecs.updates(&seeded.app_service).len(), 1);
//! ```
//!
//! Each scripted service has a [`Plot`] per `UpdateService` (or `CreateService`) the binary sends (after the
//! first, by default [`Plot::Complete`]`(1.0)`, the way the binary's own rollback goes). Its
//! DescribeServices answers carry the deployments, events, counts and
//! `deploymentConfiguration` the plot gives at the story's current time, plus the
//! `deploymentController.type` and `deploymentConfiguration.strategy` chosen with
//! [`StandInBuilder::controller`] and [`StandInBuilder::strategy`] (also in UpdateService
//! answers). Every UpdateService gets a fresh PRIMARY deployment id, as in real ECS. When the
//! plot has ECS (or someone else) change the service, the stand-in makes that change in moto
//! too, so a test can assert the task definition each service ends on.
//!
//! # The scripted clock
//!
//! Story time starts at each UpdateService the binary sends. With [`Clock::Polls`] (the
//! default) time `n` is the `n`-th DescribeServices naming the service after it; with
//! [`Clock::Seconds`] it is the real time since it. Either way a request with the header
//! [`VIRTUAL_CLOCK`] (`X-StandIn-At: 15`) is answered as of that time instead, without moving
//! the story, so a second client can replay the timeline the binary saw. [`At::AfterPoll`]
//! pins a moment to 5 ms after a poll was answered. Nothing in the stand-in sleeps.
//!
//! # The request log
//!
//! [`StandIn::exchanges`] lists every request with its operation, the story time it was
//! answered at, when it was answered and the JSON answer; [`StandIn::calls`] counts one
//! operation. [`StandInBuilder::throttle`] makes every n-th call of an operation a
//! `ThrottlingException`.
//!
//! # Adding an API (task lifecycles, service deployments, CodeDeploy)
//!
//! Requests are dispatched on their `X-Amz-Target` operation to one handler per concern, in
//! [`CONCERNS`]: `services` (UpdateService, DescribeServices), `tasks` (ListTasks,
//! DescribeTasks), `logs` (GetLogEvents), `service_history` (ListServiceDeployments and
//! DescribeServiceRevisions over the deployments a test says ECS recorded before it). A handler takes the state and the [`Call`] and
//! returns `None` for operations it does not play, which then go to moto. To add one, in this
//! file only:
//! 1. what a test scripts: a field on [`Svc`] (or on [`State`] for things not tied to a
//!    service, e.g. one-off tasks) and a builder method that sets it;
//! 2. the story: a function of the story time `t` like [`Svc::view`] (an enum of plots, as
//!    [`Plot`]), so answers depend only on the time and virtual-clock replays work;
//! 3. a handler `fn my_concern(s: &mut State, c: &Call) -> Option<Response>` matching its
//!    operations (`c.api` tells ECS `AmazonEC2ContainerServiceV20141113` from CodeDeploy
//!    `CodeDeploy_20141006`), added to [`CONCERNS`].
//!
//! Task lifecycles are one such concern (`one_off_tasks`, `one_off_logs`): `RunTask` answered
//! by the stand-in (moto's own RunTask tasks never stop), each task recorded on [`State`] with
//! a [`TaskPlot`] (PROVISIONING, PENDING, RUNNING, STOPPED with an exit code or
//! `TaskFailedToStart`, log lines, sidecars listed first) scripted with
//! [`StandInBuilder::task`], and answered by `DescribeTasks`, `StopTask` and `GetLogEvents`;
//! a repeated `clientToken` gets the first call's task, as in ECS, and every RunTask request
//! is kept ([`StandIn::run_task_calls`], [`StandIn::client_tokens`]). Service deployments
//! (`service_deployments`: `ListServiceDeployments`, `DescribeServiceDeployments`,
//! `StopServiceDeployment`, `ContinueServiceDeployment`) follow a [`NativePlot`] per
//! [`Segment`]. CodeDeploy (`codedeploy`, keyed by deployment id; applications and groups
//! stay moto's) follows a [`CdPlot`] per `CreateDeployment`
//! ([`StandInBuilder::codedeploy`]): lifecycle events one per GetDeployment poll, Ready held
//! until `ContinueDeployment(READY_WAIT)`, `StopDeployment` and failed hooks with
//! `errorInformation` and a rollback deployment, `GetDeploymentTarget` with blue and green
//! task sets, the green task set's stopped task, and someone else's active deployment
//! ([`StandInBuilder::codedeploy_busy`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use super::http::{forward, HttpServer, Request, Response};
use super::moto::{self, Moto, ACCOUNT_ID, REGION};
use super::seed::{self, Seeded, APP_CONTAINER, APP_REPO, OTEL_CONTAINER, OTEL_REPO};

/// The header that asks for an answer as of that story time (see the module doc).
pub const VIRTUAL_CLOCK: &str = "X-StandIn-At";
pub const ECS_TARGET: &str = "AmazonEC2ContainerServiceV20141113";
/// Created-at of the deployment each service runs before the test (2025-12-29).
const INITIAL_CREATED: f64 = 1_767_000_000.0;
/// The deployment id someone else's deploy gets in [`Plot::Superseded`].
pub const OTHER_DEPLOYMENT: &str = "ecs-svc/9999999999999999999";
const CONTROLLERS: [&str; 3] = ["ECS", "CODE_DEPLOY", "EXTERNAL"];
const STRATEGIES: [&str; 4] = ["ROLLING", "BLUE_GREEN", "LINEAR", "CANARY"];

/// What story time counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// The DescribeServices calls naming the service since the UpdateService: time `n` is the
    /// `n`-th poll.
    Polls,
    /// Real seconds since the UpdateService.
    Seconds,
}

/// A moment of a story.
#[derive(Clone, Debug, PartialEq)]
pub enum At {
    /// This story time.
    Time(f64),
    /// 5 ms after the binary's `n`-th poll (counting from 1) was answered: unknown until then.
    AfterPoll(usize),
}

impl From<f64> for At {
    fn from(t: f64) -> Self {
        At::Time(t)
    }
}

/// When tasks stop: the listed moments, then optionally one more every `every`, the first of
/// those `after` the last listed one.
#[derive(Clone, Debug, Default)]
pub struct Schedule {
    pub at: Vec<At>,
    pub then: Option<(f64, f64)>,
}

impl Schedule {
    pub fn never() -> Self {
        Schedule::default()
    }

    pub fn at<T: Into<At>>(moments: impl IntoIterator<Item = T>) -> Self {
        Schedule {
            at: moments.into_iter().map(Into::into).collect(),
            then: None,
        }
    }

    /// At `first`, `first + every`, `first + 2 * every`, …
    pub fn every(first: f64, every: f64) -> Self {
        Schedule::at([first]).then_every(every, every)
    }

    pub fn then_every(mut self, after: f64, every: f64) -> Self {
        self.then = Some((after, every));
        self
    }

    /// The moments up to `t`, as far as they are known.
    fn until(&self, seg: &Segment, t: f64) -> Vec<f64> {
        let mut known = Vec::new();
        for at in &self.at {
            match seg.resolve(at) {
                Some(x) => known.push(x),
                None => return known.into_iter().filter(|x| *x <= t).collect(),
            }
        }
        if let (Some((after, every)), Some(&last)) = (self.then, known.last()) {
            known.extend(
                (0..)
                    .map(|k| last + after + every * f64::from(k))
                    .take_while(|x| *x <= t),
            );
        }
        known.into_iter().filter(|x| *x <= t).collect()
    }
}

/// What ECS does with one deployment the binary starts.
#[derive(Clone, Debug)]
pub enum Plot {
    /// IN_PROGRESS until time `n` has passed, then COMPLETED.
    Complete(f64),
    /// IN_PROGRESS forever.
    Forever,
    /// Tasks fail to pull their image at these moments; the rollout stays IN_PROGRESS.
    PullFails(Schedule),
    /// The essential container exits 1 at these moments (each task has log lines); the old
    /// deployment's routine scale-in stop comes with the first.
    Exits(Schedule),
    /// At this moment the rollout turns FAILED (circuit breaker without rollback).
    RolloutFailed(At),
    /// Tasks exit as in `Exits` until `at`; then ECS's circuit breaker rolls back to the old
    /// deployment (in moto too), which completes 2 time units later.
    CircuitBreaker { exits: Schedule, at: At },
    /// At this moment someone else deploys this task definition (in moto too).
    Superseded(At, String),
}

/// One UpdateService the binary sent, as the stand-in saw it.
#[derive(Clone, Debug)]
pub struct Update {
    /// The PRIMARY deployment id the stand-in handed out.
    pub id: String,
    /// The task definition moto holds after it.
    pub td: String,
    pub at: Instant,
    pub epoch: f64,
    /// The binary's polls of this deployment (until the next UpdateService).
    pub polls: usize,
}

/// One request in the log.
#[derive(Clone, Debug)]
pub struct Exchange {
    /// The `X-Amz-Target` operation (`DescribeServices`), `None` for other protocols.
    pub op: Option<String>,
    /// The story time the answer was given at (of the first scripted service it named that has
    /// a deployment of the binary's), `None` when no story was involved.
    pub at: Option<f64>,
    /// Asked with [`VIRTUAL_CLOCK`].
    pub virtual_clock: bool,
    /// When the answer was ready to send.
    pub answered: Instant,
    pub status: u16,
    /// The answer when the stand-in made it (forwarded answers are `Null`).
    pub answer: Value,
}

/// A running stand-in on `127.0.0.1:<free port>`; stops when dropped.
pub struct StandIn {
    server: HttpServer,
    state: Arc<Mutex<State>>,
}

/// A stand-in being configured; [`StandInBuilder::start`] starts it.
pub struct StandInBuilder<'a> {
    moto: &'a Moto,
    seeded: &'a Seeded,
    clock: Clock,
    throttle: Option<(String, usize)>,
    services: Vec<(String, Script)>,
    task_plots: Vec<TaskPlot>,
    drop_run_task: usize,
    cd_plots: Vec<CdPlot>,
    cd_busy: Option<usize>,
    cd_configs: Vec<(String, Value)>,
}

/// What a test scripts for one service.
#[derive(Clone, Debug)]
struct Script {
    plots: Vec<Plot>,
    controller: Option<String>,
    strategy: Option<String>,
    bake_time: Option<u32>,
    breaker: (bool, bool),
    /// The task definitions of its earlier successful service deployments, oldest first.
    history: Vec<String>,
    /// The service deployment each UpdateService creates (ECS-native strategies).
    native: Vec<NativePlot>,
}

impl Default for Script {
    fn default() -> Self {
        Script {
            plots: Vec::new(),
            controller: None,
            strategy: None,
            bake_time: None,
            breaker: (true, true),
            history: Vec::new(),
            native: Vec::new(),
        }
    }
}

impl<'a> StandInBuilder<'a> {
    fn script(&mut self, name: &str) -> &mut Script {
        if let Some(i) = self.services.iter().position(|(n, _)| n == name) {
            return &mut self.services[i].1;
        }
        self.services.push((name.to_string(), Script::default()));
        &mut self.services.last_mut().unwrap().1
    }

    /// Scripts this service: `plot` for the first UpdateService the binary sends.
    pub fn service(mut self, name: &str, plot: Plot) -> Self {
        let s = self.script(name);
        s.plots.clear();
        s.plots.push(plot);
        self
    }

    /// The plot of the next UpdateService after those already given (the binary's rollback,
    /// say); without one, each further update completes after 1 time unit.
    pub fn then(mut self, name: &str, plot: Plot) -> Self {
        let s = self.script(name);
        if s.plots.is_empty() {
            s.plots.push(Plot::Complete(0.0));
        }
        s.plots.push(plot);
        self
    }

    /// `deploymentController.type`: `ECS`, `CODE_DEPLOY` or `EXTERNAL`.
    pub fn controller(mut self, name: &str, kind: &str) -> Self {
        assert!(
            CONTROLLERS.contains(&kind),
            "controller {kind:?}: one of {CONTROLLERS:?}"
        );
        self.script(name).controller = Some(kind.to_string());
        self
    }

    /// `deploymentConfiguration.strategy`: `ROLLING`, `BLUE_GREEN`, `LINEAR` or `CANARY`.
    pub fn strategy(mut self, name: &str, strategy: &str) -> Self {
        assert!(
            STRATEGIES.contains(&strategy),
            "strategy {strategy:?}: one of {STRATEGIES:?}"
        );
        self.script(name).strategy = Some(strategy.to_string());
        self
    }

    /// `deploymentConfiguration.bakeTimeInMinutes`.
    pub fn bake_time(mut self, name: &str, minutes: u32) -> Self {
        self.script(name).bake_time = Some(minutes);
        self
    }

    /// `deploymentConfiguration.deploymentCircuitBreaker` (default: enabled, with rollback).
    pub fn breaker(mut self, name: &str, enable: bool, rollback: bool) -> Self {
        self.script(name).breaker = (enable, rollback);
        self
    }

    /// The service deployment the binary's next UpdateService creates (after those already
    /// given), with `strategy` as its `deploymentConfiguration.strategy`.
    pub fn native(mut self, name: &str, strategy: &str, plot: NativePlot) -> Self {
        self = self.strategy(name, strategy);
        self.script(name).native.push(plot);
        self
    }

    /// A CODE_DEPLOY service (controller set, a load balancer on its app container's port
    /// 8000 in DescribeServices answers) whose next CodeDeploy deployment (after those
    /// already given) follows `plot`.
    pub fn codedeploy(mut self, name: &str, plot: CdPlot) -> Self {
        self = self.controller(name, "CODE_DEPLOY");
        self.cd_plots.push(plot);
        self
    }

    /// Someone else's deployment of the group is active for the next `list_calls`
    /// ListDeployments calls (`usize::MAX`: for ever), then Succeeded.
    pub fn codedeploy_busy(mut self, list_calls: usize) -> Self {
        self.cd_busy = Some(list_calls);
        self
    }

    /// A custom CodeDeploy deployment configuration (compute platform ECS) with this
    /// `trafficRoutingConfig`, answered by GetDeploymentConfig and played by the deployments
    /// that use it (beside CodeDeploy's predefined `CodeDeployDefault.ECS*` ones).
    pub fn codedeploy_config(mut self, name: &str, routing: Value) -> Self {
        self.cd_configs.push((name.to_string(), routing));
        self
    }

    /// What ECS recorded of the service's earlier deployments: one SUCCESSFUL service
    /// deployment per task definition, oldest first, a minute apart, answered by
    /// `ListServiceDeployments` and `DescribeServiceRevisions`.
    pub fn history(mut self, name: &str, task_definitions: &[&str]) -> Self {
        self.script(name).history = task_definitions.iter().map(|t| t.to_string()).collect();
        self
    }

    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// The plot of the next one-off task the binary starts (`RunTask`), after those already
    /// given; without one, a task exits 0 after 0.2 s.
    pub fn task(mut self, plot: TaskPlot) -> Self {
        self.task_plots.push(plot);
        self
    }

    /// The first `n` RunTask calls start their task, then the connection drops without an
    /// answer (the call ran, its answer was lost).
    pub fn drop_run_task_answers(mut self, n: usize) -> Self {
        self.drop_run_task = n;
        self
    }

    /// Every `every`-th call of `op` (counting all of them) fails with `ThrottlingException`.
    pub fn throttle(mut self, op: &str, every: usize) -> Self {
        self.throttle = Some((op.to_string(), every));
        self
    }

    /// Starts the server. Each scripted service's current deployment runs the task
    /// definition moto holds for it now; a scripted service that does not exist yet is one
    /// the binary creates, its first plot starting at its CreateService.
    pub fn start(self) -> StandIn {
        let services = self
            .services
            .into_iter()
            .enumerate()
            .map(|(index, (name, script))| {
                // A service the binary creates (CreateService) has no task definition yet.
                let current = self.moto.ecs(
                    "DescribeServices",
                    json!({ "cluster": self.seeded.cluster, "services": [name] }),
                );
                let initial_td = current["services"][0]["taskDefinition"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let container = if name == self.seeded.otel_service {
                    OTEL_CONTAINER
                } else {
                    APP_CONTAINER
                };
                let svc = Svc {
                    index,
                    container: container.to_string(),
                    initial_id: format!(
                        "ecs-svc/{}",
                        1_000_000_000_000_000_000u64 + index as u64 + 1
                    ),
                    initial_td,
                    script,
                    segments: Vec::new(),
                    history_events: Vec::new(),
                    history_tasks: Vec::new(),
                };
                (name, svc)
            })
            .collect();
        let state = Arc::new(Mutex::new(State {
            moto_url: self.moto.url(),
            cluster: self.seeded.cluster.clone(),
            clock: self.clock,
            services,
            throttle: self.throttle,
            op_calls: BTreeMap::new(),
            throttled: 0,
            next_deployment: 0,
            log: Vec::new(),
            task_plots: self.task_plots.into(),
            drop_run_task: self.drop_run_task,
            oneoffs: Vec::new(),
            run_task_calls: Vec::new(),
            stop_task_calls: Vec::new(),
            cd_plots: self.cd_plots.into(),
            cd_runs: Vec::new(),
            cd_busy: self.cd_busy,
            cd_configs: self.cd_configs,
        }));
        let shared = Arc::clone(&state);
        let server = HttpServer::start(move |req| handle(&shared, req));
        StandIn { server, state }
    }
}

impl StandIn {
    pub fn builder<'a>(moto: &'a Moto, seeded: &'a Seeded) -> StandInBuilder<'a> {
        StandInBuilder {
            moto,
            seeded,
            clock: Clock::Polls,
            throttle: None,
            services: Vec::new(),
            task_plots: Vec::new(),
            drop_run_task: 0,
            cd_plots: Vec::new(),
            cd_busy: None,
            cd_configs: Vec::new(),
        }
    }

    /// Both DataSpace services scripted, on the poll clock.
    pub fn start(moto: &Moto, seeded: &Seeded, app: Plot, otel: Plot) -> StandIn {
        StandIn::builder(moto, seeded)
            .service(&seeded.app_service, app)
            .service(&seeded.otel_service, otel)
            .start()
    }

    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub fn url(&self) -> String {
        self.server.url()
    }

    /// Every request received so far, as sent.
    pub fn requests(&self) -> Vec<Request> {
        self.server.requests()
    }

    pub fn exchanges(&self) -> Vec<Exchange> {
        self.state.lock().unwrap().log.clone()
    }

    /// How many `op` calls arrived (throttled ones included).
    pub fn calls(&self, op: &str) -> usize {
        self.state
            .lock()
            .unwrap()
            .log
            .iter()
            .filter(|e| e.op.as_deref() == Some(op))
            .count()
    }

    pub fn throttled(&self) -> usize {
        self.state.lock().unwrap().throttled
    }

    /// The UpdateService calls the binary sent for a scripted service, in order.
    pub fn updates(&self, service: &str) -> Vec<Update> {
        let s = self.state.lock().unwrap();
        s.services[service]
            .segments
            .iter()
            .map(|seg| Update {
                id: seg.id.clone(),
                td: seg.td.clone(),
                at: seg.started,
                epoch: seg.epoch,
                polls: seg.polls,
            })
            .collect()
    }

    /// The binary's polls of the deployment it started first (its deploy, not its rollback).
    pub fn deploy_polls(&self, service: &str) -> usize {
        self.updates(service).first().map_or(0, |u| u.polls)
    }

    /// Every RunTask request the binary sent, in order, as sent (its `clientToken` included).
    pub fn run_task_calls(&self) -> Vec<Value> {
        self.state.lock().unwrap().run_task_calls.clone()
    }

    /// The `clientToken` of every RunTask call, in order.
    pub fn client_tokens(&self) -> Vec<String> {
        self.run_task_calls()
            .iter()
            .map(|b| b["clientToken"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// The one-off tasks started (one per distinct client token): their ARNs.
    pub fn one_off_tasks(&self) -> Vec<String> {
        let s = self.state.lock().unwrap();
        s.oneoffs.iter().map(|t| t.arn(&s.cluster)).collect()
    }

    /// Each one-off task's wall-clock STOPPED moment (seconds since the epoch), once stopped.
    pub fn one_off_stopped_at(&self) -> Vec<Option<f64>> {
        let s = self.state.lock().unwrap();
        s.oneoffs
            .iter()
            .map(|t| t.stopped_at(None).map(|at| t.epoch + at))
            .collect()
    }

    /// StopTask calls: (task ARN, reason).
    pub fn stop_task_calls(&self) -> Vec<(String, String)> {
        self.state.lock().unwrap().stop_task_calls.clone()
    }

    /// The story time of a moment of the first deployment's plot, once it is known.
    pub fn resolve(&self, service: &str, at: &At) -> Option<f64> {
        let s = self.state.lock().unwrap();
        s.services[service].segments.first()?.resolve(at)
    }
}

// ---------------------------------------------------------------------------------------
// State and the scripted clock

struct State {
    moto_url: String,
    cluster: String,
    clock: Clock,
    services: BTreeMap<String, Svc>,
    throttle: Option<(String, usize)>,
    op_calls: BTreeMap<String, usize>,
    throttled: usize,
    next_deployment: u64,
    log: Vec<Exchange>,
    /// Plots for the next one-off tasks, in order.
    task_plots: std::collections::VecDeque<TaskPlot>,
    /// RunTask answers still to drop.
    drop_run_task: usize,
    oneoffs: Vec<OneOff>,
    run_task_calls: Vec<Value>,
    stop_task_calls: Vec<(String, String)>,
    /// CodeDeploy: plots of the next deployments, the deployments made, someone else's.
    cd_plots: std::collections::VecDeque<CdPlot>,
    cd_runs: Vec<CdRun>,
    cd_busy: Option<usize>,
    /// Custom deployment configurations: (name, trafficRoutingConfig).
    cd_configs: Vec<(String, Value)>,
}

/// One scripted service.
struct Svc {
    index: usize,
    container: String,
    initial_id: String,
    initial_td: String,
    script: Script,
    /// One per UpdateService the binary sent.
    segments: Vec<Segment>,
    /// What earlier segments showed when the next one started, newest first.
    history_events: Vec<Value>,
    history_tasks: Vec<Task>,
}

/// The story of one deployment the binary started.
struct Segment {
    id: String,
    td: String,
    plot: Plot,
    started: Instant,
    epoch: f64,
    polls: usize,
    /// Story time and wall-clock epoch of each poll's answer.
    answered: Vec<(f64, f64)>,
    /// The plot's own change has been made in moto.
    took_over: bool,
    /// The service deployment of this update (ECS-native strategies).
    native: Option<NativeRun>,
}

impl Segment {
    /// Story time for a request: the virtual clock when asked, else the clock's.
    fn time(&self, clock: Clock, virtual_at: Option<f64>) -> f64 {
        virtual_at.unwrap_or_else(|| match clock {
            Clock::Polls => self.polls as f64,
            Clock::Seconds => self.started.elapsed().as_secs_f64(),
        })
    }

    fn resolve(&self, at: &At) -> Option<f64> {
        match at {
            At::Time(t) => Some(*t),
            At::AfterPoll(n) => self.answered.get(n.checked_sub(1)?).map(|(t, _)| t + 0.005),
        }
    }

    /// The wall-clock time of a story moment: on the poll clock, when that poll was answered.
    fn epoch_of(&self, clock: Clock, at: f64) -> f64 {
        match clock {
            Clock::Seconds => self.epoch + at,
            Clock::Polls if at <= 0.0 => self.epoch,
            Clock::Polls => self
                .answered
                .get(at.ceil() as usize - 1)
                .map_or_else(epoch_now, |(_, e)| *e),
        }
    }
}

/// A stopped task.
#[derive(Clone, Debug)]
struct Task {
    id: String,
    td: String,
    started_by: String,
    stop_code: &'static str,
    reason: String,
    exit: Option<i64>,
    stopped_at: f64,
    logs: Vec<String>,
}

/// What a service shows at one story time.
struct View {
    deployments: Vec<Value>,
    /// (story time, message), oldest first.
    events: Vec<(f64, String)>,
    tasks: Vec<Task>,
    /// The plot changes the service in moto to this task definition.
    takeover: Option<String>,
}

fn epoch_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

fn short(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
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

/// The lines an exiting DataSpace container logs.
fn crash_log() -> Vec<String> {
    let mut lines: Vec<String> = (1..=25)
        .map(|i| format!("[{i:02}] booting dataspace worker {i}"))
        .collect();
    lines.push("::error::injected by the application log".into());
    lines.push(
        "django.core.exceptions.ImproperlyConfigured: The SECRET_KEY setting must not be empty."
            .into(),
    );
    lines
}

impl Svc {
    /// The story of segment `k` at time `t`.
    fn view(&self, name: &str, clock: Clock, k: usize, t: f64) -> View {
        let seg = &self.segments[k];
        let (old_id, old_td) = (self.initial_id.as_str(), self.initial_td.as_str());
        let old = |status: &str| {
            deployment(
                old_id,
                status,
                old_td,
                (0, 1, 0),
                "COMPLETED",
                INITIAL_CREATED,
            )
        };
        let ours = |counts, rollout: &str, status: &str| {
            deployment(&seg.id, status, &seg.td, counts, rollout, seg.epoch)
        };
        let in_progress = |failed: usize| {
            vec![
                ours((1, 0, failed as i64), "IN_PROGRESS", "PRIMARY"),
                old("ACTIVE"),
            ]
        };
        let task_id = |n: usize| {
            format!(
                "{:032x}",
                0xabc0_0000u64 + ((self.index as u64) << 24) + ((k as u64) << 20) + n as u64
            )
        };
        let task =
            |n: usize, at: f64, code: &'static str, reason: String, exit: Option<i64>| Task {
                id: task_id(n),
                td: seg.td.clone(),
                started_by: seg.id.clone(),
                stop_code: code,
                reason,
                exit,
                stopped_at: seg.epoch_of(clock, at),
                logs: Vec::new(),
            };
        let exits = |times: Vec<f64>| -> Vec<Task> {
            let mut tasks = Vec::new();
            for (n, at) in times.iter().enumerate() {
                let mut t = task(
                    n,
                    *at,
                    "EssentialContainerExited",
                    "Essential container in task exited".into(),
                    Some(1),
                );
                t.logs = crash_log();
                tasks.push(t);
                if n == 0 {
                    // A routine stop of the old deployment: not a failure of ours.
                    tasks.push(Task {
                        id: task_id(0xf_ffff),
                        td: old_td.to_string(),
                        started_by: old_id.to_string(),
                        stop_code: "ServiceSchedulerInitiated",
                        reason: format!("Scaling activity initiated by (deployment {})", seg.id),
                        exit: Some(0),
                        stopped_at: seg.epoch_of(clock, *at),
                        logs: Vec::new(),
                    });
                }
            }
            tasks
        };
        let failed = |tasks: &[Task]| tasks.iter().filter(|t| t.started_by == seg.id).count();

        let mut v = View {
            deployments: Vec::new(),
            events: vec![(
                0.0,
                format!("(service {name}) has started 1 tasks: (task 0f5e1a2b3c4d)."),
            )],
            tasks: Vec::new(),
            takeover: None,
        };
        let steady = format!("(service {name}) has reached a steady state.");
        let breaker_failed = format!(
            "(service {name}) (deployment {}) deployment failed: tasks failed to start.",
            seg.id
        );
        match &seg.plot {
            Plot::Complete(n) if t > *n => {
                v.events.push((*n, steady));
                v.deployments = vec![ours((0, 1, 0), "COMPLETED", "PRIMARY")];
            }
            Plot::Complete(_) | Plot::Forever => v.deployments = in_progress(0),
            Plot::PullFails(schedule) => {
                let reason = |repo: &str| {
                    let uri = seed::repo_uri(repo);
                    format!("CannotPullContainerError: pull image manifest has been retried 7 time(s): failed to resolve ref {uri}:v2: {uri}:v2: not found")
                };
                let repo = if self.container == OTEL_CONTAINER {
                    OTEL_REPO
                } else {
                    APP_REPO
                };
                v.tasks = schedule
                    .until(seg, t)
                    .into_iter()
                    .enumerate()
                    .map(|(n, at)| task(n, at, "TaskFailedToStart", reason(repo), None))
                    .collect();
                v.deployments = in_progress(v.tasks.len());
            }
            Plot::Exits(schedule) => {
                v.tasks = exits(schedule.until(seg, t));
                v.deployments = in_progress(failed(&v.tasks));
            }
            Plot::RolloutFailed(at) => match seg.resolve(at) {
                Some(c) if t >= c => {
                    v.events.push((c, breaker_failed));
                    v.deployments = vec![ours((0, 0, 0), "FAILED", "PRIMARY"), old("ACTIVE")];
                }
                _ => v.deployments = in_progress(0),
            },
            Plot::CircuitBreaker {
                exits: schedule,
                at,
            } => match seg.resolve(at) {
                Some(c) if t >= c => {
                    v.tasks = exits(
                        schedule
                            .until(seg, t)
                            .into_iter()
                            .filter(|x| *x < c)
                            .collect(),
                    );
                    v.events.push((c, breaker_failed));
                    v.events.push((
                        c,
                        format!("(service {name}) rolling back to deployment {old_id}."),
                    ));
                    let done = t >= c + 2.0;
                    if done {
                        v.events.push((c + 2.0, steady));
                    }
                    let rollout = if done { "COMPLETED" } else { "IN_PROGRESS" };
                    v.deployments = vec![deployment(
                        old_id,
                        "PRIMARY",
                        old_td,
                        (0, 1, 0),
                        rollout,
                        seg.epoch_of(clock, c),
                    )];
                    v.takeover = Some(old_td.to_string());
                }
                _ => {
                    v.tasks = exits(schedule.until(seg, t));
                    v.deployments = in_progress(failed(&v.tasks));
                }
            },
            Plot::Superseded(at, other_td) => match seg.resolve(at) {
                Some(c) if t >= c => {
                    v.events.push((
                        c,
                        format!("(service {name}) has started 1 tasks: (task 9d8c7b6a5f4e)."),
                    ));
                    v.deployments = vec![
                        deployment(
                            OTHER_DEPLOYMENT,
                            "PRIMARY",
                            other_td,
                            (1, 0, 0),
                            "IN_PROGRESS",
                            seg.epoch_of(clock, c),
                        ),
                        ours((0, 1, 0), "IN_PROGRESS", "ACTIVE"),
                    ];
                    v.takeover = Some(other_td.clone());
                }
                _ => v.deployments = in_progress(0),
            },
        }
        v
    }

    /// Events as ECS lists them (newest first), this segment's after the earlier ones'.
    fn events_json(&self, clock: Clock, k: usize, view: &View) -> Vec<Value> {
        let seg = &self.segments[k];
        let mut events: Vec<Value> = view
            .events
            .iter()
            .enumerate()
            .map(|(n, (at, message))| {
                json!({
                    "id": format!("{:04x}{:04x}-0000-4000-8000-{:012x}", k, n + 1, self.index),
                    "createdAt": seg.epoch_of(clock, *at),
                    "message": message,
                })
            })
            .rev()
            .collect();
        events.extend(self.history_events.iter().cloned());
        events
    }

    /// The service's stopped tasks at story time `t` of its current segment.
    fn tasks_at(&self, name: &str, clock: Clock, virtual_at: Option<f64>) -> Vec<Task> {
        let mut tasks = self.history_tasks.clone();
        if let Some(k) = self.segments.len().checked_sub(1) {
            let t = self.segments[k].time(clock, virtual_at);
            tasks.extend(self.view(name, clock, k, t).tasks);
        }
        tasks
    }
}

fn task_json(t: &Task, cluster: &str, container: &str, service: &str) -> Value {
    let arn = format!("arn:aws:ecs:{REGION}:{ACCOUNT_ID}:task/{cluster}/{}", t.id);
    let mut c = json!({
        "containerArn": format!("arn:aws:ecs:{REGION}:{ACCOUNT_ID}:container/{cluster}/{}/c1", t.id),
        "taskArn": arn,
        "name": container,
        "lastStatus": "STOPPED",
    });
    if let Some(code) = t.exit {
        c["exitCode"] = json!(code);
    }
    json!({
        "taskArn": arn,
        "clusterArn": format!("arn:aws:ecs:{REGION}:{ACCOUNT_ID}:cluster/{cluster}"),
        "taskDefinitionArn": t.td,
        "group": format!("service:{service}"),
        "startedBy": t.started_by,
        "lastStatus": "STOPPED",
        "desiredStatus": "STOPPED",
        "launchType": "FARGATE",
        "stopCode": t.stop_code,
        "stoppedReason": t.reason,
        "stoppedAt": t.stopped_at,
        "containers": [c],
    })
}

// ---------------------------------------------------------------------------------------
// Dispatch

/// One request being answered.
pub struct Call<'r> {
    /// The `X-Amz-Target` prefix: `AmazonEC2ContainerServiceV20141113`, `Logs_20140328`, …
    pub api: &'r str,
    /// The operation: `DescribeServices`.
    pub op: &'r str,
    pub req: &'r Request,
    /// The [`VIRTUAL_CLOCK`] header's time, when sent.
    pub virtual_at: Option<f64>,
}

/// What a concern's handler answers; the story time it answered at goes to the log.
struct Answer {
    response: Response,
    at: Option<f64>,
}

type Concern = fn(&mut State, &Call) -> Option<Answer>;

/// The handlers, asked in order; an operation none of them plays goes to moto.
const CONCERNS: &[Concern] = &[
    services,
    one_off_tasks,
    tasks,
    one_off_logs,
    logs,
    service_deployments,
    service_history,
    codedeploy,
];

fn handle(state: &Mutex<State>, req: &Request) -> Response {
    let target = req.header("X-Amz-Target").unwrap_or_default();
    let (api, op) = target.rsplit_once('.').unwrap_or(("", target));
    let virtual_at = req.header(VIRTUAL_CLOCK).map(|v| {
        v.parse::<f64>()
            .unwrap_or_else(|_| panic!("{VIRTUAL_CLOCK}: {v:?} is not a number"))
    });
    let call = Call {
        api,
        op,
        req,
        virtual_at,
    };
    let mut s = state.lock().unwrap();
    let answer = throttled(&mut s, &call)
        .or_else(|| CONCERNS.iter().find_map(|concern| concern(&mut s, &call)));
    let (response, at, answer_json) = match answer {
        Some(a) => {
            let json = serde_json::from_slice(&a.response.body).unwrap_or(Value::Null);
            (a.response, a.at, json)
        }
        None => {
            let url = s.moto_url.clone();
            drop(s);
            let r = forward(&url, req);
            s = state.lock().unwrap();
            (r, None, Value::Null)
        }
    };
    s.log.push(Exchange {
        op: (!op.is_empty()).then(|| op.to_string()),
        at,
        virtual_clock: virtual_at.is_some(),
        answered: Instant::now(),
        status: response.status,
        answer: answer_json,
    });
    response
}

fn throttled(s: &mut State, c: &Call) -> Option<Answer> {
    let (op, every) = s.throttle.clone()?;
    if c.op != op {
        return None;
    }
    let n = s.op_calls.entry(op).or_default();
    *n += 1;
    if *n % every != 0 {
        return None;
    }
    s.throttled += 1;
    Some(Answer {
        response: Response::aws_error(400, "ThrottlingException", "Rate exceeded"),
        at: None,
    })
}

/// Sets what the test chose for the service on a DescribeServices or UpdateService answer.
fn present(service: &mut Value, script: &Script) {
    if let Some(kind) = &script.controller {
        service["deploymentController"] = json!({ "type": kind });
    }
    if !service["deploymentConfiguration"].is_object() {
        service["deploymentConfiguration"] = json!({});
    }
    let config = &mut service["deploymentConfiguration"];
    if let Some(strategy) = &script.strategy {
        config["strategy"] = json!(strategy);
    }
    if let Some(minutes) = script.bake_time {
        config["bakeTimeInMinutes"] = json!(minutes);
    }
    if script.controller.as_deref() == Some("CODE_DEPLOY")
        && service["loadBalancers"]
            .as_array()
            .is_none_or(|a| a.is_empty())
    {
        service["loadBalancers"] = json!([{
            "targetGroupArn": format!("arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT_ID}:targetgroup/blue/0123456789abcdef"),
            "containerName": APP_CONTAINER,
            "containerPort": 8000,
        }]);
    }
}

/// ECS services and their rollouts: UpdateService, DescribeServices.
fn services(s: &mut State, c: &Call) -> Option<Answer> {
    match c.op {
        // A created service's story starts at its creation, like an update's.
        "UpdateService" | "CreateService" => Some(update_service(s, c)),
        "DescribeServices" => Some(describe_services(s, c)),
        _ => None,
    }
}

fn update_service(s: &mut State, c: &Call) -> Answer {
    let answer = forward(&s.moto_url, c.req);
    if answer.status != 200 {
        return Answer {
            response: answer,
            at: None,
        };
    }
    let mut json: Value = serde_json::from_slice(&answer.body).unwrap();
    s.next_deployment += 1;
    let id = format!(
        "ecs-svc/{}",
        4_000_000_000_000_000_000u64 + s.next_deployment
    );
    for d in json["service"]["deployments"]
        .as_array_mut()
        .into_iter()
        .flatten()
    {
        if d["status"] == "PRIMARY" {
            d["id"] = json!(id);
        }
    }
    let body = c.req.json();
    let named = body["service"].as_str().or(body["serviceName"].as_str());
    let name = short(named.unwrap_or_default()).to_string();
    let td = json["service"]["taskDefinition"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let clock = s.clock;
    // A CODE_DEPLOY service's UpdateService changes attributes (and the desired count) only:
    // no deployment of its own; its revision moves through CodeDeploy.
    let codedeploy = s
        .services
        .get(&name)
        .is_some_and(|v| v.script.controller.as_deref() == Some("CODE_DEPLOY"));
    if let Some(svc) = s.services.get_mut(&name).filter(|_| !codedeploy) {
        // What the deployment being replaced showed stays in the service's history.
        if let Some(k) = svc.segments.len().checked_sub(1) {
            let t = svc.segments[k].time(clock, None);
            let view = svc.view(&name, clock, k, t);
            svc.history_events = svc.events_json(clock, k, &view);
            svc.history_tasks.extend(view.tasks);
        }
        let plot = svc
            .script
            .plots
            .get(svc.segments.len())
            .cloned()
            .unwrap_or(Plot::Complete(1.0));
        svc.segments.push(Segment {
            id,
            td,
            plot,
            started: Instant::now(),
            epoch: epoch_now(),
            polls: 0,
            answered: Vec::new(),
            took_over: false,
            native: None,
        });
        let k = svc.segments.len() - 1;
        if let Some(plot) = svc.script.native.get(k).cloned() {
            let source = match k {
                0 => svc.initial_td.clone(),
                _ => svc.segments[k - 1].td.clone(),
            };
            svc.segments[k].native = Some(NativeRun {
                plot,
                number: 7_000 + s.next_deployment,
                source_td: source,
                actions: Vec::new(),
                reverted: false,
            });
        }
        present(&mut json["service"], &svc.script);
    }
    Answer {
        response: Response::aws_json(&json),
        at: None,
    }
}

/// UpdateService sent by the stand-in itself (ECS's own rollback, someone else's deploy).
fn moto_update(moto_url: &str, cluster: &str, service: &str, td: &str) {
    let req = Request {
        method: "POST".into(),
        path: "/".into(),
        headers: vec![
            ("Authorization".into(), moto::authorization("ecs")),
            ("X-Amz-Target".into(), format!("{ECS_TARGET}.UpdateService")),
            ("Content-Type".into(), "application/x-amz-json-1.1".into()),
        ],
        body: json!({ "cluster": cluster, "service": service, "taskDefinition": td })
            .to_string()
            .into_bytes(),
    };
    let answer = forward(moto_url, &req);
    assert_eq!(answer.status, 200, "{}", answer.body_str());
}

fn describe_services(s: &mut State, c: &Call) -> Answer {
    let answer = forward(&s.moto_url, c.req);
    if answer.status != 200 {
        return Answer {
            response: answer,
            at: None,
        };
    }
    let mut json: Value = serde_json::from_slice(&answer.body).unwrap();
    let (clock, moto_url, cluster) = (s.clock, s.moto_url.clone(), s.cluster.clone());
    let mut story_at = None;
    let mut polled = Vec::new();
    for service in json["services"].as_array_mut().into_iter().flatten() {
        let name = service["serviceName"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let Some(svc) = s.services.get_mut(&name) else {
            continue;
        };
        // A CODE_DEPLOY service runs what CodeDeploy last put in place (moto's revision).
        let current_td = match svc.script.controller.as_deref() {
            Some("CODE_DEPLOY") => service["taskDefinition"]
                .as_str()
                .unwrap_or(&svc.initial_td)
                .to_string(),
            _ => svc.initial_td.clone(),
        };
        let (deployments, events) = match svc.segments.len().checked_sub(1) {
            None => (
                vec![deployment(
                    &svc.initial_id,
                    "PRIMARY",
                    &current_td,
                    (0, 1, 0),
                    "COMPLETED",
                    INITIAL_CREATED,
                )],
                svc.history_events.clone(),
            ),
            Some(k) => {
                if c.virtual_at.is_none() {
                    let seg = &mut svc.segments[k];
                    seg.polls += 1;
                    polled.push(name.clone());
                }
                let t = svc.segments[k].time(clock, c.virtual_at);
                story_at.get_or_insert(t);
                let view = svc.view(&name, clock, k, t);
                if let Some(td) = &view.takeover {
                    if !svc.segments[k].took_over {
                        moto_update(&moto_url, &cluster, &name, td);
                        svc.segments[k].took_over = true;
                    }
                }
                (view.deployments.clone(), svc.events_json(clock, k, &view))
            }
        };
        let (enable, rollback) = svc.script.breaker;
        service["deploymentConfiguration"] = json!({
            "maximumPercent": 200,
            "minimumHealthyPercent": 100,
            "deploymentCircuitBreaker": { "enable": enable, "rollback": rollback },
        });
        present(service, &svc.script);
        if let Some(p) = deployments.iter().find(|d| d["status"] == "PRIMARY") {
            service["runningCount"] = p["runningCount"].clone();
            service["pendingCount"] = p["pendingCount"].clone();
            service["taskDefinition"] = p["taskDefinition"].clone();
        }
        service["events"] = json!(events);
        service["deployments"] = json!(deployments);
    }
    let response = Response::aws_json(&json);
    for name in polled {
        let seg = s
            .services
            .get_mut(&name)
            .unwrap()
            .segments
            .last_mut()
            .unwrap();
        let t = seg.time(clock, None);
        seg.answered.push((t, epoch_now()));
    }
    Answer {
        response,
        at: story_at,
    }
}

/// Stopped tasks: ListTasks, DescribeTasks.
fn tasks(s: &mut State, c: &Call) -> Option<Answer> {
    let cd = cd_tasks(s);
    let (clock, cluster) = (s.clock, s.cluster.as_str());
    match c.op {
        "ListTasks" => {
            let body = c.req.json();
            let name = short(body["serviceName"].as_str().unwrap_or_default());
            let (arns, at) = match s.services.get(name) {
                Some(svc) => (
                    svc.tasks_at(name, clock, c.virtual_at)
                        .iter()
                        .chain(cd.iter().filter(|(n, _)| n == name).map(|(_, t)| t))
                        .map(|t| task_json(t, cluster, &svc.container, name)["taskArn"].clone())
                        .collect(),
                    svc.segments.last().map(|seg| seg.time(clock, c.virtual_at)),
                ),
                None => (Vec::new(), None),
            };
            Some(Answer {
                response: Response::aws_json(&json!({ "taskArns": arns })),
                at,
            })
        }
        "DescribeTasks" => {
            let body = c.req.json();
            let wanted: Vec<&str> = body["tasks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let mut at = None;
            let mut tasks = Vec::new();
            for (name, svc) in &s.services {
                if let Some(seg) = svc.segments.last() {
                    at.get_or_insert(seg.time(clock, c.virtual_at));
                }
                tasks.extend(
                    svc.tasks_at(name, clock, c.virtual_at)
                        .iter()
                        .chain(cd.iter().filter(|(n, _)| n == name).map(|(_, t)| t))
                        .map(|t| task_json(t, cluster, &svc.container, name))
                        .filter(|t| wanted.contains(&t["taskArn"].as_str().unwrap_or_default())),
                );
            }
            Some(Answer {
                response: Response::aws_json(&json!({ "tasks": tasks, "failures": [] })),
                at,
            })
        }
        _ => None,
    }
}

/// CloudWatch Logs of the stopped tasks: GetLogEvents (the stream's last part is the task id).
fn logs(s: &mut State, c: &Call) -> Option<Answer> {
    if c.op != "GetLogEvents" {
        return None;
    }
    let body = c.req.json();
    let stream = body["logStreamName"].as_str().unwrap_or_default();
    let cd = cd_tasks(s);
    let lines = s
        .services
        .iter()
        .find_map(|(name, svc)| {
            svc.tasks_at(name, s.clock, c.virtual_at)
                .into_iter()
                .find(|t| !t.logs.is_empty() && short(stream) == t.id)
                .map(|t| t.logs)
        })
        .or_else(|| {
            cd.into_iter()
                .find(|(_, t)| short(stream) == t.id)
                .map(|(_, t)| t.logs)
        });
    let response = match lines {
        Some(lines) => {
            let limit = body["limit"].as_u64().unwrap_or(10_000) as usize;
            let t = (epoch_now() * 1000.0) as i64;
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
    };
    Some(Answer { response, at: None })
}

// ---------------------------------------------------------------------------------------
// One-off tasks: RunTask, DescribeTasks, StopTask and their awslogs lines

/// What ECS does with a one-off task the binary starts (`RunTask`; moto's own RunTask tasks
/// never stop, so the stand-in answers these calls itself). Times are seconds after the
/// RunTask call (or the [`VIRTUAL_CLOCK`] time): PROVISIONING from 0, then PENDING, RUNNING
/// and STOPPED at the moments given.
#[derive(Clone, Debug)]
pub struct TaskPlot {
    pub pending: f64,
    /// `None`: never seen RUNNING (it fails to start).
    pub running: Option<f64>,
    /// `None`: it never stops by itself.
    pub stopped: Option<f64>,
    /// The watched container's exit code; `None`: it has none.
    pub exit: Option<i64>,
    pub stop_code: String,
    pub reason: String,
    /// Lines of the watched container's awslogs stream, each with when it appears.
    pub logs: Vec<(f64, String)>,
    /// Containers listed before the watched one (sidecars), with their exit codes.
    pub sidecars: Vec<(String, Option<i64>)>,
    /// RunTask starts nothing and answers `failures[]` with this (reason, detail).
    pub refused: Option<(String, String)>,
}

impl TaskPlot {
    /// The named container exits `code` at `after` seconds (RUNNING from half of it).
    pub fn exits(code: i64, after: f64) -> TaskPlot {
        TaskPlot {
            pending: after * 0.2,
            running: Some(after * 0.5),
            stopped: Some(after),
            exit: Some(code),
            stop_code: "EssentialContainerExited".into(),
            reason: "Essential container in task exited".into(),
            logs: Vec::new(),
            sidecars: Vec::new(),
            refused: None,
        }
    }

    /// STOPPED with `TaskFailedToStart` at `after` seconds, never RUNNING, no exit code.
    pub fn fails_to_start(after: f64, reason: &str) -> TaskPlot {
        TaskPlot {
            running: None,
            exit: None,
            stop_code: "TaskFailedToStart".into(),
            reason: reason.into(),
            ..TaskPlot::exits(0, after)
        }
    }

    /// RUNNING from `running` seconds on, until StopTask.
    pub fn never_stops(running: f64) -> TaskPlot {
        TaskPlot {
            pending: running / 2.0,
            running: Some(running),
            stopped: None,
            ..TaskPlot::exits(0, running)
        }
    }

    /// RunTask refuses it with `failures[]`: no task starts.
    pub fn refused(reason: &str, detail: &str) -> TaskPlot {
        TaskPlot {
            refused: Some((reason.into(), detail.into())),
            ..TaskPlot::exits(0, 0.1)
        }
    }

    /// Log lines spread evenly from RUNNING (or PENDING) to STOPPED (or one second on).
    pub fn logs(mut self, lines: &[&str]) -> Self {
        let from = self.running.unwrap_or(self.pending);
        let to = self.stopped.unwrap_or(from + 1.0);
        let n = lines.len().max(1) as f64;
        self.logs = lines
            .iter()
            .enumerate()
            .map(|(i, l)| (from + (to - from) * i as f64 / n, l.to_string()))
            .collect();
        self
    }

    /// A container listed before the watched one, stopping with this exit code.
    pub fn sidecar(mut self, name: &str, exit: Option<i64>) -> Self {
        self.sidecars.push((name.to_string(), exit));
        self
    }
}

/// One one-off task the stand-in started.
struct OneOff {
    id: String,
    token: String,
    request: Value,
    /// The container the command overrides: the one whose logs and exit code are scripted.
    container: String,
    started: Instant,
    epoch: f64,
    plot: TaskPlot,
    /// StopTask: story time and reason.
    stop: Option<(f64, String)>,
}

impl OneOff {
    fn arn(&self, cluster: &str) -> String {
        format!(
            "arn:aws:ecs:{REGION}:{ACCOUNT_ID}:task/{cluster}/{}",
            self.id
        )
    }

    fn time(&self, virtual_at: Option<f64>) -> f64 {
        virtual_at.unwrap_or_else(|| self.started.elapsed().as_secs_f64())
    }

    /// When it stops: its plot's moment or the StopTask, whichever comes first.
    fn stopped_at(&self, _virtual_at: Option<f64>) -> Option<f64> {
        match (self.plot.stopped, &self.stop) {
            (Some(p), Some((s, _))) => Some(p.min(*s)),
            (p, s) => p.or(s.as_ref().map(|(t, _)| *t)),
        }
    }

    fn by_stop_task(&self) -> bool {
        match (self.plot.stopped, &self.stop) {
            (Some(p), Some((s, _))) => *s < p,
            (None, Some(_)) => true,
            _ => false,
        }
    }

    fn status(&self, t: f64) -> &'static str {
        if self.stopped_at(None).is_some_and(|s| t >= s) {
            "STOPPED"
        } else if self.plot.running.is_some_and(|r| t >= r) {
            "RUNNING"
        } else if t >= self.plot.pending {
            "PENDING"
        } else {
            "PROVISIONING"
        }
    }

    fn json(&self, cluster: &str, t: f64) -> Value {
        let arn = self.arn(cluster);
        let status = self.status(t);
        let stopped = status == "STOPPED";
        let was_running = self
            .plot
            .running
            .is_some_and(|r| self.stopped_at(None).is_none_or(|s| r <= s) && t >= r);
        let exit_of = |scripted: Option<i64>| -> Option<i64> {
            if !stopped {
                None
            } else if self.by_stop_task() {
                was_running.then_some(137)
            } else {
                scripted
            }
        };
        let container = |name: &str, exit: Option<i64>| {
            let mut c = json!({
                "containerArn": format!("arn:aws:ecs:{REGION}:{ACCOUNT_ID}:container/{cluster}/{}/{name}", self.id),
                "taskArn": arn,
                "name": name,
                "lastStatus": if stopped { "STOPPED" } else if was_running { "RUNNING" } else { "PENDING" },
            });
            if let Some(code) = exit_of(exit) {
                c["exitCode"] = json!(code);
            }
            c
        };
        let mut containers: Vec<Value> = self
            .plot
            .sidecars
            .iter()
            .map(|(n, e)| container(n, *e))
            .collect();
        containers.push(container(&self.container, self.plot.exit));
        let mut task = json!({
            "taskArn": arn,
            "clusterArn": format!("arn:aws:ecs:{REGION}:{ACCOUNT_ID}:cluster/{cluster}"),
            "taskDefinitionArn": self.request["taskDefinition"],
            "startedBy": self.request["startedBy"],
            "group": "family:oneoff",
            "lastStatus": status,
            "desiredStatus": if stopped || self.stop.is_some() { "STOPPED" } else { "RUNNING" },
            "launchType": self.request.get("launchType").cloned().unwrap_or(json!("FARGATE")),
            "createdAt": self.epoch,
            "overrides": self.request["overrides"],
            "containers": containers,
        });
        if was_running {
            task["startedAt"] = json!(self.epoch + self.plot.running.unwrap_or_default());
        }
        if stopped {
            let at = self.stopped_at(None).unwrap_or_default();
            task["stoppedAt"] = json!(self.epoch + at);
            task["stoppingAt"] = json!(self.epoch + at);
            match &self.stop {
                Some((_, reason)) if self.by_stop_task() => {
                    task["stopCode"] = json!("UserInitiated");
                    task["stoppedReason"] = json!(reason);
                }
                _ => {
                    task["stopCode"] = json!(self.plot.stop_code);
                    task["stoppedReason"] = json!(self.plot.reason);
                }
            }
        }
        task
    }
}

/// One-off tasks: RunTask, DescribeTasks of those tasks, StopTask. Other tasks' calls go on
/// to the next concern (or moto).
fn one_off_tasks(s: &mut State, c: &Call) -> Option<Answer> {
    if c.api != ECS_TARGET {
        return None;
    }
    let cluster = s.cluster.clone();
    let body = c.req.json();
    let answer = |v: Value| {
        Some(Answer {
            response: Response::aws_json(&v),
            at: None,
        })
    };
    match c.op {
        "RunTask" => {
            s.run_task_calls.push(body.clone());
            let token = body["clientToken"].as_str().unwrap_or_default().to_string();
            // ECS answers a repeated client token with the task the first call started.
            if let Some(t) = s
                .oneoffs
                .iter()
                .find(|t| !token.is_empty() && t.token == token)
            {
                return answer(
                    json!({ "tasks": [t.json(&cluster, t.time(c.virtual_at))], "failures": [] }),
                );
            }
            let plot = s
                .task_plots
                .pop_front()
                .unwrap_or_else(|| TaskPlot::exits(0, 0.2));
            if let Some((reason, detail)) = &plot.refused {
                return answer(json!({ "tasks": [], "failures": [{
                    "arn": body["taskDefinition"], "reason": reason, "detail": detail,
                }]}));
            }
            let container = body["overrides"]["containerOverrides"][0]["name"]
                .as_str()
                .unwrap_or(APP_CONTAINER)
                .to_string();
            let t = OneOff {
                id: format!("{:032x}", 0x0ff0_0000u64 + s.oneoffs.len() as u64 + 1),
                token,
                request: body,
                container,
                started: Instant::now(),
                epoch: epoch_now(),
                plot,
                stop: None,
            };
            let first = json!({ "tasks": [t.json(&cluster, 0.0)], "failures": [] });
            s.oneoffs.push(t);
            if s.drop_run_task > 0 {
                s.drop_run_task -= 1;
                return Some(Answer {
                    response: Response::drop_connection(),
                    at: None,
                });
            }
            answer(first)
        }
        "StopTask" => {
            let wanted = body["task"].as_str().unwrap_or_default().to_string();
            let t = s
                .oneoffs
                .iter_mut()
                .find(|t| wanted == t.id || wanted == t.arn(&cluster))?;
            let now = t.time(c.virtual_at);
            if t.stopped_at(None).is_none_or(|at| at > now) && t.stop.is_none() {
                t.stop = Some((now, body["reason"].as_str().unwrap_or_default().to_string()));
            }
            let json = t.json(&cluster, now);
            s.stop_task_calls.push((
                wanted,
                body["reason"].as_str().unwrap_or_default().to_string(),
            ));
            answer(json!({ "task": json }))
        }
        "DescribeTasks" => {
            let wanted: Vec<String> = body["tasks"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect();
            let ours = |w: &str| s.oneoffs.iter().find(|t| w == t.id || w == t.arn(&cluster));
            if !wanted.iter().any(|w| ours(w).is_some()) {
                return None;
            }
            let mut tasks = Vec::new();
            let mut failures = Vec::new();
            for w in &wanted {
                match ours(w) {
                    Some(t) => tasks.push(t.json(&cluster, t.time(c.virtual_at))),
                    None => failures.push(json!({ "arn": w, "reason": "MISSING" })),
                }
            }
            answer(json!({ "tasks": tasks, "failures": failures }))
        }
        _ => None,
    }
}

/// The watched container's awslogs stream of a one-off task (`<prefix>/<container>/<task
/// id>`): the lines that appeared by now, from `nextToken` (`f/<n>`) on. The stream exists
/// from RUNNING on.
fn one_off_logs(s: &mut State, c: &Call) -> Option<Answer> {
    if c.op != "GetLogEvents" {
        return None;
    }
    let body = c.req.json();
    let stream = body["logStreamName"].as_str().unwrap_or_default();
    let mut parts = stream.rsplit('/');
    let (id, container) = (parts.next()?, parts.next()?);
    let t = s.oneoffs.iter().find(|t| t.id == id)?;
    let now = t.time(c.virtual_at);
    let opened = t.plot.running.or(t.stopped_at(None));
    let missing = || {
        Some(Answer {
            response: Response::aws_error(
                400,
                "ResourceNotFoundException",
                "The specified log stream does not exist.",
            ),
            at: None,
        })
    };
    if container != t.container || opened.is_none_or(|o| now < o) {
        return missing();
    }
    let from: usize = body["nextToken"]
        .as_str()
        .and_then(|tok| tok.strip_prefix("f/"))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    let visible: Vec<&(f64, String)> = t.plot.logs.iter().filter(|(at, _)| *at <= now).collect();
    let events: Vec<Value> = visible
        .iter()
        .skip(from)
        .map(|(at, m)| {
            let ms = ((t.epoch + at) * 1000.0) as i64;
            json!({ "timestamp": ms, "message": m, "ingestionTime": ms })
        })
        .collect();
    let next = from.max(visible.len());
    Some(Answer {
        response: Response::aws_json(&json!({
            "events": events,
            "nextForwardToken": format!("f/{next}"),
            "nextBackwardToken": "b/0",
        })),
        at: Some(now),
    })
}

/// The service deployments ECS recorded before the test ([`StandInBuilder::history`]):
/// `ListServiceDeployments` (SUCCESSFUL briefs, in the order ECS gives them: newest first) and
/// `DescribeServiceRevisions` (each revision's task definition; unknown ARNs are failures).
fn service_history(s: &mut State, c: &Call) -> Option<Answer> {
    let cluster = s.cluster.clone();
    let revision_arn = |service: &str, i: usize| {
        format!(
            "arn:aws:ecs:{REGION}:{ACCOUNT_ID}:service-revision/{cluster}/{service}/{}",
            4_000 + i
        )
    };
    let service_arn =
        |service: &str| format!("arn:aws:ecs:{REGION}:{ACCOUNT_ID}:service/{cluster}/{service}");
    match c.op {
        "ListServiceDeployments" => {
            let body = c.req.json();
            let name = short(body["service"].as_str().unwrap_or_default()).to_string();
            let svc = s
                .services
                .get(&name)
                .filter(|v| !v.script.history.is_empty())?;
            let asked: Vec<&str> = body["status"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let briefs: Vec<Value> = if asked.is_empty() || asked.contains(&"SUCCESSFUL") {
                (0..svc.script.history.len())
                    .rev()
                    .map(|i| {
                        let at = INITIAL_CREATED - 60.0 * (svc.script.history.len() - i) as f64;
                        json!({
                            "serviceDeploymentArn": format!("arn:aws:ecs:{REGION}:{ACCOUNT_ID}:service-deployment/{cluster}/{name}/{}", 5_000 + i),
                            "serviceArn": service_arn(&name),
                            "clusterArn": format!("arn:aws:ecs:{REGION}:{ACCOUNT_ID}:cluster/{cluster}"),
                            "createdAt": at,
                            "startedAt": at,
                            "finishedAt": at + 30.0,
                            "targetServiceRevisionArn": revision_arn(&name, i),
                            "status": "SUCCESSFUL",
                        })
                    })
                    .collect()
            } else {
                Vec::new()
            };
            Some(Answer {
                response: Response::aws_json(&json!({ "serviceDeployments": briefs })),
                at: None,
            })
        }
        "DescribeServiceRevisions" => {
            let body = c.req.json();
            let mut found = Vec::new();
            let mut failures = Vec::new();
            for arn in body["serviceRevisionArns"].as_array().into_iter().flatten() {
                let arn = arn.as_str().unwrap_or_default();
                let hit = s.services.iter().find_map(|(name, svc)| {
                    (0..svc.script.history.len())
                        .find(|&i| revision_arn(name, i) == arn)
                        .map(|i| (name.clone(), svc.script.history[i].clone()))
                });
                match hit {
                    Some((name, td)) => found.push(json!({
                        "serviceRevisionArn": arn,
                        "serviceArn": service_arn(&name),
                        "clusterArn": format!("arn:aws:ecs:{REGION}:{ACCOUNT_ID}:cluster/{cluster}"),
                        "taskDefinition": td,
                        "createdAt": INITIAL_CREATED,
                    })),
                    None => failures.push(json!({ "arn": arn, "reason": "MISSING" })),
                }
            }
            if found.is_empty() && failures.is_empty() {
                return None;
            }
            Some(Answer {
                response: Response::aws_json(
                    &json!({ "serviceRevisions": found, "failures": failures }),
                ),
                at: None,
            })
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// Service deployments of the ECS-native strategies (BLUE_GREEN, LINEAR, CANARY)

/// One step of a service deployment's story: from story time `at`, this status, stage and
/// the new revision's requested traffic weights.
#[derive(Clone, Debug, PartialEq)]
pub struct NativeStep {
    pub at: f64,
    pub status: &'static str,
    pub stage: &'static str,
    pub production: f64,
    pub test: f64,
}

/// The story of one service deployment, shaped like `DescribeServiceDeployments`: steps in
/// time, an optional pause hook awaiting action at the end of `steps` (then `after_continue`
/// runs, its times counted from the ContinueServiceDeployment), and the reason of a failure.
/// A rollback (a `ContinueServiceDeployment(ROLLBACK)` or a `StopServiceDeployment(ROLLBACK)`)
/// is ROLLBACK_IN_PROGRESS for one time unit, then ROLLBACK_SUCCESSFUL; a finished rollback
/// (ECS's own too) puts moto back on the source revision.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct NativePlot {
    pub steps: Vec<NativeStep>,
    pub pause: Option<String>,
    pub after_continue: Vec<NativeStep>,
    /// The `statusReason` of ECS's own rollback.
    pub reason: Option<String>,
    /// Someone else's UpdateService at this time replaces it (STOPPED).
    pub replaced_at: Option<f64>,
    /// For this long after a ContinueServiceDeployment the hook still shows AWAITING_ACTION
    /// (ECS answers the continue before its own view moves on).
    pub continue_lag: f64,
}

fn step(
    at: f64,
    status: &'static str,
    stage: &'static str,
    production: f64,
    test: f64,
) -> NativeStep {
    NativeStep {
        at,
        status,
        stage,
        production,
        test,
    }
}

/// The stages up to the production traffic shift, from `t`, one time unit each.
fn to_production(t: f64) -> Vec<NativeStep> {
    vec![
        step(t, "IN_PROGRESS", "RECONCILE_SERVICE", 0.0, 0.0),
        step(t + 1.0, "IN_PROGRESS", "SCALE_UP", 0.0, 0.0),
        step(t + 2.0, "IN_PROGRESS", "TEST_TRAFFIC_SHIFT", 0.0, 100.0),
        step(
            t + 3.0,
            "IN_PROGRESS",
            "POST_TEST_TRAFFIC_SHIFT",
            0.0,
            100.0,
        ),
    ]
}

/// After production traffic: the bake, the clean-up, SUCCESSFUL.
fn bake_and_finish(t: f64, bake: f64) -> Vec<NativeStep> {
    vec![
        step(t, "IN_PROGRESS", "BAKE_TIME", 100.0, 100.0),
        step(t + bake, "IN_PROGRESS", "CLEAN_UP", 100.0, 100.0),
        step(t + bake + 1.0, "SUCCESSFUL", "CLEAN_UP", 100.0, 100.0),
    ]
}

impl NativePlot {
    /// Blue/green: all production traffic at once, then `bake` time units of bake.
    pub fn blue_green(bake: f64) -> NativePlot {
        let mut steps = to_production(0.0);
        steps.push(step(
            4.0,
            "IN_PROGRESS",
            "PRODUCTION_TRAFFIC_SHIFT",
            100.0,
            100.0,
        ));
        steps.extend(bake_and_finish(5.0, bake));
        NativePlot {
            steps,
            ..NativePlot::default()
        }
    }

    /// Linear: production traffic in `n` equal steps, one time unit apart, then the bake.
    pub fn linear(n: usize, bake: f64) -> NativePlot {
        let mut steps = to_production(0.0);
        for i in 1..=n {
            let w = (100.0 * i as f64 / n as f64).round();
            steps.push(step(
                3.0 + i as f64,
                "IN_PROGRESS",
                "PRODUCTION_TRAFFIC_SHIFT",
                w,
                100.0,
            ));
        }
        steps.extend(bake_and_finish(4.0 + n as f64, bake));
        NativePlot {
            steps,
            ..NativePlot::default()
        }
    }

    /// Canary: `percent` of production traffic, and its bake fails at time 6 (an alarm, say):
    /// ECS rolls it back.
    pub fn canary_fails(percent: f64, reason: &str) -> NativePlot {
        let mut steps = to_production(0.0);
        steps.push(step(
            4.0,
            "IN_PROGRESS",
            "PRODUCTION_TRAFFIC_SHIFT",
            percent,
            100.0,
        ));
        steps.push(step(5.0, "IN_PROGRESS", "BAKE_TIME", percent, 100.0));
        steps.push(step(6.0, "ROLLBACK_REQUESTED", "BAKE_TIME", percent, 100.0));
        steps.push(step(7.0, "ROLLBACK_IN_PROGRESS", "BAKE_TIME", 0.0, 0.0));
        steps.push(step(8.0, "ROLLBACK_SUCCESSFUL", "CLEAN_UP", 0.0, 0.0));
        NativePlot {
            steps,
            reason: Some(reason.to_string()),
            ..NativePlot::default()
        }
    }

    /// A pause hook `hook` awaiting action after the test traffic shift; a continue runs the
    /// production shift and a bake of `bake`.
    pub fn paused(hook: &str, bake: f64) -> NativePlot {
        let mut after = vec![step(
            0.0,
            "IN_PROGRESS",
            "PRODUCTION_TRAFFIC_SHIFT",
            100.0,
            100.0,
        )];
        after.extend(bake_and_finish(1.0, bake));
        NativePlot {
            steps: to_production(0.0),
            pause: Some(hook.to_string()),
            after_continue: after,
            ..NativePlot::default()
        }
    }

    /// In this stage, IN_PROGRESS, forever (until stopped).
    pub fn forever(stage: &'static str) -> NativePlot {
        NativePlot {
            steps: vec![step(0.0, "IN_PROGRESS", stage, 100.0, 100.0)],
            ..NativePlot::default()
        }
    }

    /// Replaced by someone else's deployment at time `at` (STOPPED).
    pub fn replaced(at: f64) -> NativePlot {
        NativePlot {
            replaced_at: Some(at),
            ..NativePlot::forever("BAKE_TIME")
        }
    }
}

#[derive(Clone, Debug, PartialEq)]
enum NativeAct {
    Continue,
    Rollback,
}

/// One service deployment the binary's update created.
#[derive(Clone, Debug)]
struct NativeRun {
    plot: NativePlot,
    number: u64,
    source_td: String,
    /// Interventions, at story time.
    actions: Vec<(f64, NativeAct)>,
    /// moto was put back on the source revision after the rollback.
    reverted: bool,
}

/// What a service deployment shows at a story time.
#[derive(Clone, Debug, PartialEq)]
struct NativeState {
    status: &'static str,
    stage: &'static str,
    production: f64,
    test: f64,
    hook: Option<&'static str>,
}

impl NativeRun {
    fn state(&self, t: f64) -> NativeState {
        let at = |steps: &[NativeStep], t: f64| -> Option<NativeStep> {
            steps.iter().rev().find(|s| s.at <= t).cloned()
        };
        let of = |s: &NativeStep, hook| NativeState {
            status: s.status,
            stage: s.stage,
            production: s.production,
            test: s.test,
            hook,
        };
        // A rollback asked for wins from its time on.
        if let Some((ta, _)) = self.actions.iter().find(|(_, a)| *a == NativeAct::Rollback) {
            if t >= *ta {
                let status = if t < ta + 1.0 {
                    "ROLLBACK_IN_PROGRESS"
                } else {
                    "ROLLBACK_SUCCESSFUL"
                };
                let hook = self.plot.pause.as_ref().map(|_| "SUCCEEDED");
                return NativeState {
                    status,
                    stage: "CLEAN_UP",
                    production: 0.0,
                    test: 0.0,
                    hook,
                };
            }
        }
        if self.plot.replaced_at.is_some_and(|tr| t >= tr) {
            return NativeState {
                status: "STOPPED",
                stage: "CLEAN_UP",
                production: 0.0,
                test: 0.0,
                hook: None,
            };
        }
        let first = at(&self.plot.steps, t).unwrap_or_else(|| self.plot.steps[0].clone());
        if self.plot.pause.is_none() {
            return of(&first, None);
        }
        let paused_from = self.plot.steps.last().map_or(0.0, |s| s.at);
        match self.actions.iter().find(|(_, a)| *a == NativeAct::Continue) {
            Some((tc, _)) if t >= *tc + self.plot.continue_lag => {
                let tc = *tc + self.plot.continue_lag;
                let after = at(&self.plot.after_continue, t - tc)
                    .unwrap_or_else(|| self.plot.after_continue[0].clone());
                of(&after, Some("SUCCEEDED"))
            }
            _ if t >= paused_from => of(&first, Some("AWAITING_ACTION")),
            _ => of(&first, None),
        }
    }
}

fn deployment_arn(cluster: &str, service: &str, number: u64) -> String {
    format!("arn:aws:ecs:{REGION}:{ACCOUNT_ID}:service-deployment/{cluster}/{service}/{number}")
}

fn native_revision_arn(cluster: &str, service: &str, number: u64) -> String {
    format!("arn:aws:ecs:{REGION}:{ACCOUNT_ID}:service-revision/{cluster}/{service}/{number}")
}

/// (service, segment index) of a service deployment ARN.
fn locate(s: &State, arn: &str) -> Option<(String, usize)> {
    s.services.iter().find_map(|(name, svc)| {
        svc.segments
            .iter()
            .position(|seg| {
                seg.native
                    .as_ref()
                    .is_some_and(|n| deployment_arn(&s.cluster, name, n.number) == arn)
            })
            .map(|k| (name.clone(), k))
    })
}

/// The `ServiceDeployment` of segment `k` of `name` at its story time (a finished rollback
/// puts moto back on the source revision, once).
fn native_view(s: &mut State, name: &str, k: usize, virtual_at: Option<f64>) -> Value {
    let (clock, cluster, moto_url) = (s.clock, s.cluster.clone(), s.moto_url.clone());
    let svc = s.services.get_mut(name).unwrap();
    let seg = &svc.segments[k];
    let t = seg.time(clock, virtual_at);
    let n = seg.native.as_ref().unwrap();
    let st = n.state(t);
    let running = |w: f64| json!(((w / 100.0) * 2.0).ceil() as i64);
    let hooks: Vec<Value> = n
        .plot
        .pause
        .iter()
        .filter_map(|id| {
            st.hook.map(|status| {
                json!({
                    "hookId": id,
                    "targetType": "PAUSE",
                    "status": status,
                    "expiresAt": seg.epoch + 86_400.0,
                    "timeoutAction": "ROLLBACK",
                })
            })
        })
        .collect();
    let reason = match st.status {
        "ROLLBACK_REQUESTED" | "ROLLBACK_IN_PROGRESS" | "ROLLBACK_SUCCESSFUL" => n
            .plot
            .reason
            .clone()
            .unwrap_or_else(|| "Service deployment rolled back because of a request.".into()),
        "STOPPED" => "Replaced by a new service deployment.".into(),
        _ => String::new(),
    };
    let json = json!({
        "serviceDeploymentArn": deployment_arn(&cluster, name, n.number),
        "serviceArn": format!("arn:aws:ecs:{REGION}:{ACCOUNT_ID}:service/{cluster}/{name}"),
        "clusterArn": format!("arn:aws:ecs:{REGION}:{ACCOUNT_ID}:cluster/{cluster}"),
        "createdAt": seg.epoch,
        "startedAt": seg.epoch,
        "updatedAt": epoch_now(),
        "status": st.status,
        "statusReason": reason,
        "lifecycleStage": st.stage,
        "targetServiceRevision": {
            "arn": native_revision_arn(&cluster, name, n.number),
            "requestedTaskCount": 2,
            "runningTaskCount": running(st.production.max(st.test)),
            "pendingTaskCount": 0,
            "requestedProductionTrafficWeight": st.production,
            "requestedTestTrafficWeight": st.test,
        },
        "sourceServiceRevisions": [{
            "arn": native_revision_arn(&cluster, name, n.number - 1),
            "requestedTaskCount": 2,
            "runningTaskCount": 2,
            "pendingTaskCount": 0,
            "requestedProductionTrafficWeight": 100.0 - st.production,
            "requestedTestTrafficWeight": 100.0 - st.test,
        }],
        "lifecycleHookDetails": hooks,
    });
    if st.status == "ROLLBACK_SUCCESSFUL" && !n.reverted {
        let source = n.source_td.clone();
        moto_update(&moto_url, &cluster, name, &source);
        svc.segments[k].native.as_mut().unwrap().reverted = true;
    }
    json
}

/// The service deployments of the ECS-native scripted services ([`StandInBuilder::native`]):
/// ListServiceDeployments, DescribeServiceDeployments, DescribeServiceRevisions (of their
/// target and source revisions), StopServiceDeployment and ContinueServiceDeployment, on the
/// service's story time (its polls).
fn service_deployments(s: &mut State, c: &Call) -> Option<Answer> {
    let answer = |v: Value| {
        Some(Answer {
            response: Response::aws_json(&v),
            at: None,
        })
    };
    let refuse = |kind: &str, msg: String| {
        Some(Answer {
            response: Response::aws_error(400, kind, &msg),
            at: None,
        })
    };
    const OPS: [&str; 5] = [
        "ListServiceDeployments",
        "DescribeServiceDeployments",
        "DescribeServiceRevisions",
        "StopServiceDeployment",
        "ContinueServiceDeployment",
    ];
    if c.api != ECS_TARGET || !OPS.contains(&c.op) {
        return None;
    }
    let body = c.req.json();
    let cluster = s.cluster.clone();
    match c.op {
        "ListServiceDeployments" => {
            let name = short(body["service"].as_str().unwrap_or_default()).to_string();
            let svc = s.services.get(&name)?;
            if svc.script.native.is_empty() {
                return None;
            }
            let after = body["createdAt"]["after"].as_f64().unwrap_or(f64::MIN);
            let asked: Vec<String> = body["status"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            let ks: Vec<usize> = (0..svc.segments.len())
                .filter(|&k| svc.segments[k].native.is_some() && svc.segments[k].epoch > after)
                .collect();
            let mut briefs = Vec::new();
            for k in ks.into_iter().rev() {
                let v = native_view(s, &name, k, c.virtual_at);
                if asked.is_empty() || asked.iter().any(|a| v["status"] == a.as_str()) {
                    briefs.push(json!({
                        "serviceDeploymentArn": v["serviceDeploymentArn"],
                        "serviceArn": v["serviceArn"],
                        "clusterArn": v["clusterArn"],
                        "createdAt": v["createdAt"],
                        "startedAt": v["startedAt"],
                        "targetServiceRevisionArn": v["targetServiceRevision"]["arn"],
                        "status": v["status"],
                    }));
                }
            }
            // Someone else's deployment that replaced one of ours is listed too.
            let clock = s.clock;
            for seg in &s.services.get(&name)?.segments {
                let Some(n) = &seg.native else { continue };
                let Some(tr) = n.plot.replaced_at else {
                    continue;
                };
                if seg.time(clock, c.virtual_at) >= tr
                    && (asked.is_empty() || asked.iter().any(|a| a == "IN_PROGRESS"))
                {
                    briefs.insert(
                        0,
                        json!({
                            "serviceDeploymentArn": deployment_arn(&cluster, &name, 9_999),
                            "createdAt": seg.epoch + 1.0,
                            "targetServiceRevisionArn": native_revision_arn(&cluster, &name, 9_999),
                            "status": "IN_PROGRESS",
                        }),
                    );
                }
            }
            answer(json!({ "serviceDeployments": briefs }))
        }
        "DescribeServiceDeployments" => {
            let mut found = Vec::new();
            let mut failures = Vec::new();
            for arn in body["serviceDeploymentArns"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let arn = arn.as_str().unwrap_or_default();
                match locate(s, arn) {
                    Some((name, k)) => found.push(native_view(s, &name, k, c.virtual_at)),
                    None => failures.push(json!({ "arn": arn, "reason": "MISSING" })),
                }
            }
            if found.is_empty()
                && failures.iter().all(|_| {
                    !s.services
                        .values()
                        .any(|v| v.segments.iter().any(|g| g.native.is_some()))
                })
            {
                return None;
            }
            answer(json!({ "serviceDeployments": found, "failures": failures }))
        }
        "DescribeServiceRevisions" => {
            let mut found = Vec::new();
            for arn in body["serviceRevisionArns"].as_array().into_iter().flatten() {
                let arn = arn.as_str().unwrap_or_default();
                for (name, svc) in &s.services {
                    for seg in &svc.segments {
                        let Some(n) = &seg.native else { continue };
                        let td = if native_revision_arn(&cluster, name, n.number) == arn {
                            Some(seg.td.clone())
                        } else if native_revision_arn(&cluster, name, n.number - 1) == arn {
                            Some(n.source_td.clone())
                        } else {
                            None
                        };
                        if let Some(td) = td {
                            found.push(json!({ "serviceRevisionArn": arn, "taskDefinition": td }));
                        }
                    }
                }
            }
            if found.is_empty() {
                return None;
            }
            answer(json!({ "serviceRevisions": found, "failures": [] }))
        }
        "StopServiceDeployment" | "ContinueServiceDeployment" => {
            let arn = body["serviceDeploymentArn"].as_str().unwrap_or_default();
            let Some((name, k)) = locate(s, arn) else {
                return refuse(
                    "ServiceDeploymentNotFoundException",
                    "The service deployment does not exist.".into(),
                );
            };
            let clock = s.clock;
            let seg = &mut s.services.get_mut(&name).unwrap().segments[k];
            let t = seg.time(clock, c.virtual_at);
            let n = seg.native.as_mut().unwrap();
            let st = n.state(t);
            let act = if c.op == "StopServiceDeployment" || body["action"] == "ROLLBACK" {
                NativeAct::Rollback
            } else {
                NativeAct::Continue
            };
            // As ECS: a stop works while the deployment goes on; a continue needs the hook
            // awaiting action.
            let ok = match c.op {
                "StopServiceDeployment" => {
                    matches!(st.status, "PENDING" | "IN_PROGRESS" | "ROLLBACK_REQUESTED")
                }
                _ => {
                    st.hook == Some("AWAITING_ACTION")
                        && body["hookId"].as_str() == n.plot.pause.as_deref()
                }
            };
            if !ok {
                return refuse(
                    "InvalidParameterException",
                    format!(
                        "The service deployment is {} and cannot be changed.",
                        st.status
                    ),
                );
            }
            n.actions.push((t, act));
            answer(json!({ "serviceDeploymentArn": arn }))
        }
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------
// CodeDeploy deployments (moto's stay `Created` for ever, and it has no GetDeploymentTarget,
// ContinueDeployment or StopDeployment): shaped like the CodeDeploy API reference.

pub const CODEDEPLOY_TARGET: &str = "CodeDeploy_20141006";
/// The id of someone else's deployment ([`StandInBuilder::codedeploy_busy`]).
pub const OTHER_CODEDEPLOY: &str = "d-OTHER00001";
/// The lifecycle events of an ECS deployment, in order.
pub const CD_EVENTS: [&str; 8] = [
    "BeforeInstall",
    "Install",
    "AfterInstall",
    "AllowTestTraffic",
    "AfterAllowTestTraffic",
    "BeforeAllowTraffic",
    "AllowTraffic",
    "AfterAllowTraffic",
];

/// What CodeDeploy does with one deployment the binary creates. Story time is the binary's
/// GetDeployment calls of it: Created at 0, then one lifecycle event per poll.
#[derive(Clone, Debug, PartialEq)]
pub enum CdPlot {
    /// Through every lifecycle event to Succeeded (green takes production traffic).
    Succeeds,
    /// The hook of this lifecycle event fails: Failed (HOOK_EXECUTION_FAILURE), and
    /// CodeDeploy's automatic rollback (when the deployment asked for it) runs.
    HookFails(&'static str),
    /// Ready after AfterAllowTestTraffic (green takes test traffic), until
    /// ContinueDeployment(READY_WAIT); then on to Succeeded.
    Ready,
    /// InProgress at AfterAllowTestTraffic for ever (until stopped).
    Forever,
}

#[derive(Clone, Debug)]
struct CdRun {
    id: String,
    service: String,
    td: String,
    plot: CdPlot,
    /// Its position among the deployments the binary created (from 1).
    number: usize,
    auto_rollback: bool,
    polls: usize,
    /// When it was created (story time on [`Clock::Seconds`]: one event per second).
    created: Instant,
    clock: Clock,
    continued: Option<usize>,
    stopped: Option<usize>,
    rollback_polls: usize,
    took_over: bool,
    /// Production traffic's steps to green (percent of each, 100 last): one story time each
    /// during AllowTraffic; `[100]` for all at once.
    steps: Vec<f64>,
    /// The deployment configuration it was created with (`deploymentConfigName`).
    config: String,
}

/// What a CodeDeploy deployment shows at a story time.
struct CdState {
    status: &'static str,
    events: Vec<(&'static str, &'static str)>,
    /// The green task set's share of production traffic (test traffic goes to green from
    /// AllowTestTraffic on).
    green: f64,
    test_on_green: bool,
    error: Option<(&'static str, String)>,
    rollback: bool,
}

impl CdRun {
    fn rollback_id(&self) -> String {
        format!("{}-RB", self.id)
    }

    /// Story time: the binary's GetDeployment polls of it, or whole seconds since it was
    /// created on [`Clock::Seconds`].
    fn now(&self) -> usize {
        match self.clock {
            Clock::Polls => self.polls,
            Clock::Seconds => self.created.elapsed().as_secs() as usize,
        }
    }

    /// The green task set's id (its tasks are `startedBy` it).
    fn green_id(&self) -> String {
        format!("ecs-svc/2222222222222222{:03}", self.number)
    }

    fn state(&self, t: usize) -> CdState {
        let n = CD_EVENTS.len();
        let ready_at = CD_EVENTS
            .iter()
            .position(|e| *e == "BeforeAllowTraffic")
            .unwrap();
        // Events done by time t (0 at creation): one per poll after the first; AllowTraffic
        // takes one story time per traffic step after the first.
        let allow = CD_EVENTS.iter().position(|e| *e == "AllowTraffic").unwrap();
        let extra = self.steps.len().saturating_sub(1);
        let raw_done = t.saturating_sub(1);
        let (mut done, mut shifted) = match raw_done {
            d if d < allow => (d, None),
            d if d <= allow + extra && self.steps.len() > 1 => (allow, Some(d - allow)),
            d => (d - extra.min(d - allow), None),
        };
        let mut status = match t {
            0 => "Created",
            _ => "InProgress",
        };
        let mut failed_at = None;
        match &self.plot {
            CdPlot::Succeeds => {}
            CdPlot::HookFails(event) => {
                let i = CD_EVENTS.iter().position(|e| e == event).unwrap();
                if done >= i {
                    done = i;
                    failed_at = Some(i);
                }
            }
            CdPlot::Ready => match self.continued {
                Some(tc) if t > tc => done = (ready_at + (t - tc)).min(n + 1),
                _ if done >= ready_at => {
                    done = ready_at;
                    shifted = None;
                    status = "Ready";
                }
                _ => {}
            },
            CdPlot::Forever => {
                done = done.min(ready_at - 1);
                shifted = None;
            }
        }
        if failed_at.is_none() && done > n && status == "InProgress" {
            status = "Succeeded";
        }
        let mut events: Vec<(&'static str, &'static str)> = CD_EVENTS
            .iter()
            .enumerate()
            .map(|(i, e)| {
                let s = if i < done.min(n) || status == "Succeeded" {
                    "Succeeded"
                } else if Some(i) == failed_at {
                    "Failed"
                } else if failed_at.is_some() {
                    "Skipped"
                } else if i == done && status == "InProgress" {
                    "InProgress"
                } else {
                    "Pending"
                };
                (*e, s)
            })
            .collect();
        let mut error = None;
        let mut rollback = false;
        if let Some(i) = failed_at {
            status = "Failed";
            error = Some((
                "HOOK_EXECUTION_FAILURE",
                format!(
                    "The deployment failed because a specified lifecycle event hook failed: {}",
                    CD_EVENTS[i]
                ),
            ));
            rollback = self.auto_rollback;
        }
        if self.stopped.is_some_and(|ts| t >= ts) {
            status = "Stopped";
            error = Some((
                "MANUAL_STOP",
                "The deployment was stopped by a request (StopDeployment).".to_string(),
            ));
            rollback = true;
            for e in events.iter_mut().filter(|e| e.1 != "Succeeded") {
                e.1 = "Skipped";
            }
        }
        let test_on_green = done > 3 && !rollback;
        let green = if status == "Succeeded" || (done > 6 && !rollback) {
            100.0
        } else if let Some(step) = shifted.filter(|_| !rollback && status == "InProgress") {
            self.steps[step.min(self.steps.len() - 1)]
        } else {
            0.0
        };
        CdState {
            status,
            events,
            green,
            test_on_green,
            error,
            rollback,
        }
    }
}

fn cd_answer(v: Value) -> Option<Answer> {
    Some(Answer {
        response: Response::aws_json(&v),
        at: None,
    })
}

fn cd_refuse(kind: &str, msg: &str) -> Option<Answer> {
    Some(Answer {
        response: Response::aws_error(400, kind, msg),
        at: None,
    })
}

/// CodeDeploy: CreateDeployment (moto validates the application and group and gives the id;
/// the stand-in then plays it), GetDeployment, GetDeploymentTarget, ListDeployments,
/// ContinueDeployment, StopDeployment. Applications and groups are moto's.
fn codedeploy(s: &mut State, c: &Call) -> Option<Answer> {
    if c.api != CODEDEPLOY_TARGET {
        return None;
    }
    let body = c.req.json();
    let busy = |s: &State| s.cd_busy.is_some_and(|n| n > 0);
    match c.op {
        "CreateDeployment" => {
            if busy(s)
                || s.cd_runs
                    .iter()
                    .any(|r| !matches!(r.state(r.now()).status, "Succeeded" | "Failed" | "Stopped"))
            {
                return cd_refuse(
                    "DeploymentLimitExceededException",
                    "The deployment group already has an active deployment.",
                );
            }
            let answer = forward(&s.moto_url, c.req);
            if answer.status != 200 {
                return Some(Answer {
                    response: answer,
                    at: None,
                });
            }
            let json: Value = serde_json::from_slice(&answer.body).unwrap();
            let content = body["revision"]["appSpecContent"]["content"]
                .as_str()
                .unwrap_or_default();
            let spec: Value = serde_json::from_str(content).unwrap_or(Value::Null);
            let props = &spec["Resources"][0]["TargetService"]["Properties"];
            let td = props["TaskDefinition"]
                .as_str()
                .or(props["taskdefinition"].as_str())
                .unwrap_or_default()
                .to_string();
            let service = s
                .services
                .iter()
                .find(|(_, v)| v.script.controller.as_deref() == Some("CODE_DEPLOY"))
                .map(|(n, _)| n.clone())
                .unwrap_or_default();
            let plot = s.cd_plots.pop_front().unwrap_or(CdPlot::Succeeds);
            let number = s.cd_runs.len() + 1;
            let config = body["deploymentConfigName"]
                .as_str()
                .map(str::to_string)
                .or_else(|| moto_group_config(&s.moto_url, &body))
                .unwrap_or_else(|| "CodeDeployDefault.ECSAllAtOnce".to_string());
            let steps = cd_config(s, &config)
                .map(|c| cd_steps(&c))
                .unwrap_or_else(|| vec![100.0]);
            s.cd_runs.push(CdRun {
                number,
                id: json["deploymentId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
                service,
                td,
                plot,
                auto_rollback: body["autoRollbackConfiguration"]["enabled"] == true,
                polls: 0,
                created: Instant::now(),
                clock: s.clock,
                continued: None,
                stopped: None,
                rollback_polls: 0,
                took_over: false,
                steps,
                config: config.clone(),
            });
            cd_answer(json)
        }
        "GetDeployment" => {
            let id = body["deploymentId"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            if id == OTHER_CODEDEPLOY {
                let status = if busy(s) { "InProgress" } else { "Succeeded" };
                return cd_answer(json!({ "deploymentInfo": {
                    "deploymentId": id, "status": status, "creator": "user",
                    "description": "someone else's deploy", "computePlatform": "ECS",
                }}));
            }
            if let Some(r) = s.cd_runs.iter_mut().find(|r| r.rollback_id() == id) {
                r.rollback_polls += 1;
                let status = if r.rollback_polls > 1 {
                    "Succeeded"
                } else {
                    "InProgress"
                };
                return cd_answer(json!({ "deploymentInfo": {
                    "deploymentId": id, "status": status, "creator": "codeDeployRollback",
                    "computePlatform": "ECS",
                    "rollbackInfo": { "rollbackTriggeringDeploymentId": r.id },
                }}));
            }
            let moto_url = s.moto_url.clone();
            let cluster = s.cluster.clone();
            let r = s.cd_runs.iter_mut().find(|r| r.id == id)?;
            if c.virtual_at.is_none() {
                r.polls += 1;
            }
            let st = r.state(r.now());
            if st.status == "Succeeded" && !r.took_over {
                moto_update(&moto_url, &cluster, &r.service, &r.td);
                r.took_over = true;
            }
            let mut info = json!({
                "deploymentId": r.id,
                "deploymentConfigName": r.config,
                "status": st.status,
                "creator": "user",
                "computePlatform": "ECS",
                "createTime": epoch_now(),
                "deploymentStatusMessages": [],
            });
            if let Some((code, message)) = &st.error {
                info["errorInformation"] = json!({ "code": code, "message": message });
            }
            if st.rollback {
                info["rollbackInfo"] = json!({
                    "rollbackDeploymentId": r.rollback_id(),
                    "rollbackMessage": format!("Deployment {} was rolled back by {}", r.id, r.rollback_id()),
                });
            }
            cd_answer(json!({ "deploymentInfo": info }))
        }
        "GetDeploymentTarget" => {
            let id = body["deploymentId"].as_str().unwrap_or_default();
            let cluster = s.cluster.clone();
            let r = s.cd_runs.iter().find(|r| r.id == id)?;
            let st = r.state(r.now());
            let target = body["targetId"].as_str().unwrap_or_default();
            if target != format!("{cluster}:{}", r.service) {
                return cd_refuse(
                    "DeploymentTargetDoesNotExistException",
                    "The provided target ID does not belong to the deployment.",
                );
            }
            let set = |label: &str, id: String, weight: f64, status: &str| {
                json!({
                    "identifer": id, "desiredCount": 2, "pendingCount": 0,
                    "runningCount": 2, "status": status, "trafficWeight": weight,
                    "taskSetLabel": label,
                    "targetGroup": { "name": format!("{}-tg", label.to_lowercase()) },
                })
            };
            let green_up = st.events[1].1 == "Succeeded";
            let green_id = r.green_id();
            let mut sets = vec![set(
                "BLUE",
                "ecs-svc/1111111111111111111".into(),
                100.0 - st.green,
                if st.green >= 100.0 {
                    "ACTIVE"
                } else {
                    "PRIMARY"
                },
            )];
            if green_up {
                sets.push(set(
                    "GREEN",
                    green_id,
                    st.green,
                    if st.green >= 100.0 {
                        "PRIMARY"
                    } else {
                        "ACTIVE"
                    },
                ));
            }
            let _ = st.test_on_green;
            let events: Vec<Value> = st
                .events
                .iter()
                .map(|(e, s)| json!({ "lifecycleEventName": e, "status": s }))
                .collect();
            cd_answer(json!({ "deploymentTarget": {
                "deploymentTargetType": "ECSTarget",
                "ecsTarget": {
                    "deploymentId": id,
                    "targetId": target,
                    "targetArn": format!("arn:aws:ecs:{REGION}:{ACCOUNT_ID}:service/{target}"),
                    "status": st.status,
                    "lifecycleEvents": events,
                    "taskSetsInfo": sets,
                }
            }}))
        }
        "ListDeployments" => {
            let asked: Vec<String> = body["includeOnlyStatuses"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            let wanted = |st: &str| asked.is_empty() || asked.iter().any(|a| a == st);
            let mut ids: Vec<String> = s
                .cd_runs
                .iter()
                .rev()
                .filter(|r| wanted(r.state(r.now()).status))
                .map(|r| r.id.clone())
                .collect();
            if let Some(n) = s.cd_busy.as_mut().filter(|n| **n > 0) {
                if *n != usize::MAX {
                    *n -= 1;
                }
                if wanted("InProgress") {
                    ids.insert(0, OTHER_CODEDEPLOY.to_string());
                }
            }
            cd_answer(json!({ "deployments": ids }))
        }
        "GetDeploymentConfig" => {
            let name = body["deploymentConfigName"].as_str().unwrap_or_default();
            let Some(routing) = cd_config(s, name) else {
                return cd_refuse(
                    "DeploymentConfigDoesNotExistException",
                    &format!("The deployment configuration {name} does not exist with the user or AWS account."),
                );
            };
            cd_answer(json!({ "deploymentConfigInfo": {
                "deploymentConfigId": format!("{:08x}-0000-4000-8000-000000000000", name.len()),
                "deploymentConfigName": name,
                "minimumHealthyHosts": { "type": "FLEET_PERCENT", "value": 0 },
                "createTime": epoch_now(),
                "computePlatform": "ECS",
                "trafficRoutingConfig": routing,
            }}))
        }
        "ContinueDeployment" => {
            let id = body["deploymentId"].as_str().unwrap_or_default();
            let Some(r) = s.cd_runs.iter_mut().find(|r| r.id == id) else {
                return cd_refuse(
                    "DeploymentDoesNotExistException",
                    "The deployment does not exist.",
                );
            };
            if r.state(r.now()).status != "Ready" || body["deploymentWaitType"] != "READY_WAIT" {
                return cd_refuse(
                    "DeploymentIsNotInReadyStateException",
                    "The deployment is not in the Ready state.",
                );
            }
            r.continued = Some(r.now());
            cd_answer(json!({}))
        }
        "StopDeployment" => {
            let id = body["deploymentId"].as_str().unwrap_or_default();
            let Some(r) = s.cd_runs.iter_mut().find(|r| r.id == id) else {
                return cd_refuse(
                    "DeploymentDoesNotExistException",
                    "The deployment does not exist.",
                );
            };
            if matches!(r.state(r.now()).status, "Succeeded" | "Failed" | "Stopped") {
                return cd_refuse(
                    "DeploymentAlreadyCompletedException",
                    "The deployment is already completed.",
                );
            }
            r.stopped = Some(r.now() + 1);
            cd_answer(json!({ "status": "Pending", "statusMessage": "Stopping the deployment." }))
        }
        _ => None,
    }
}

/// The `trafficRoutingConfig` of a deployment configuration: CodeDeploy's predefined ECS
/// ones, or a custom one given to the builder.
fn cd_config(s: &State, name: &str) -> Option<Value> {
    let linear = |p: i64, m: i64| json!({ "type": "TimeBasedLinear", "timeBasedLinear": { "linearPercentage": p, "linearInterval": m } });
    let canary = |p: i64, m: i64| json!({ "type": "TimeBasedCanary", "timeBasedCanary": { "canaryPercentage": p, "canaryInterval": m } });
    match name {
        "CodeDeployDefault.ECSAllAtOnce" => Some(json!({ "type": "AllAtOnce" })),
        "CodeDeployDefault.ECSLinear10PercentEvery1Minutes" => Some(linear(10, 1)),
        "CodeDeployDefault.ECSLinear10PercentEvery3Minutes" => Some(linear(10, 3)),
        "CodeDeployDefault.ECSCanary10Percent5Minutes" => Some(canary(10, 5)),
        "CodeDeployDefault.ECSCanary10Percent15Minutes" => Some(canary(10, 15)),
        _ => s
            .cd_configs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, r)| r.clone()),
    }
}

/// Production traffic's steps to green under a `trafficRoutingConfig`: linear `p`, `2p`, …,
/// 100; canary `p`, then 100; all at once 100.
fn cd_steps(routing: &Value) -> Vec<f64> {
    match routing["type"].as_str() {
        Some("TimeBasedLinear") => {
            let p = routing["timeBasedLinear"]["linearPercentage"]
                .as_f64()
                .unwrap_or(100.0)
                .max(1.0);
            let n = (100.0 / p).ceil() as usize;
            (1..=n).map(|i| (p * i as f64).min(100.0)).collect()
        }
        Some("TimeBasedCanary") => {
            let p = routing["timeBasedCanary"]["canaryPercentage"]
                .as_f64()
                .unwrap_or(100.0);
            vec![p, 100.0]
        }
        _ => vec![100.0],
    }
}

/// The deployment configuration moto holds for the group a CreateDeployment names.
fn moto_group_config(moto_url: &str, create: &Value) -> Option<String> {
    let req = Request {
        method: "POST".into(),
        path: "/".into(),
        headers: vec![
            ("Authorization".into(), moto::authorization("codedeploy")),
            (
                "X-Amz-Target".into(),
                format!("{CODEDEPLOY_TARGET}.GetDeploymentGroup"),
            ),
            ("Content-Type".into(), "application/x-amz-json-1.1".into()),
        ],
        body: json!({
            "applicationName": create["applicationName"],
            "deploymentGroupName": create["deploymentGroupName"],
        })
        .to_string()
        .into_bytes(),
    };
    let answer = forward(moto_url, &req);
    let v: Value = serde_json::from_slice(&answer.body).ok()?;
    v["deploymentGroupInfo"]["deploymentConfigName"]
        .as_str()
        .map(str::to_string)
}

/// The green task set's stopped task of each failed hook deployment (its essential container
/// exited 1, with log lines): (service, task).
fn cd_tasks(s: &State) -> Vec<(String, Task)> {
    s.cd_runs
        .iter()
        .filter(|r| matches!(r.plot, CdPlot::HookFails(_)) && r.state(r.now()).status == "Failed")
        .map(|r| {
            let task = Task {
                id: format!("{:032x}", 0xcd00_0000u64 + r.number as u64),
                td: r.td.clone(),
                started_by: r.green_id(),
                stop_code: "EssentialContainerExited",
                reason: "Essential container in task exited".into(),
                exit: Some(1),
                stopped_at: epoch_now(),
                logs: crash_log(),
            };
            (r.service.clone(), task)
        })
        .collect()
}
