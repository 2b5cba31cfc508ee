//! Detection-time benchmark of issue 3: how long after a rollout's failure becomes certain
//! the real `ecs-deploy` binary exits, per failure scenario, next to what the official
//! deploy action's "wait until services are stable" loop would do on the same timeline.
//!
//! Each scenario starts a private moto, seeds the DataSpace services and puts the scripted ECS
//! stand-in of the integration tests (`support::standin`) in front of it, on its seconds
//! clock. The story is a schedule of times since the binary's `UpdateService`: fixed
//! half-way between polls, or pinned 5 ms after a poll was answered (`At::AfterPoll`, the
//! worst case, found while the binary polls). Answers are a function of that clock, so after
//! the run the baseline waiter (polling every 15 s, run in-process against the stand-in on its
//! virtual clock, never actually waiting) replays the very timeline the binary saw. Runs with
//! `rollback-on-failure: false`: the figure is detection, not rollback.
//!
//! `cargo bench --bench detection` (cargo builds the binary first). It needs moto_server, found
//! like the integration tests find it: `ECS_DEPLOY_MOTO_SERVER`, else
//! `~/.cache/ecs-deploy/venv/bin/moto_server` (`scripts/install-moto.sh` installs it).

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use support::seed::{self, APP_REPO, CLUSTER};
use support::standin::{Exchange, ECS_TARGET, VIRTUAL_CLOCK};
use support::{
    call_json_at, push_image, seed_dataspace, At, Clock, Moto, MotoOptions, Plot, Run, Schedule,
    Seeded, StandIn,
};

/// The binary's `poll-interval-seconds` in this benchmark.
const POLL: Duration = Duration::from_secs(1);
/// The official action: `WAIT_DEFAULT_DELAY_SEC = 15`, `wait-for-minutes` default 30, the
/// SDK's `servicesStable` waiter with `maxAttempts = minutes * 60 / 15`.
const BASELINE_DELAY_S: f64 = 15.0;
const BASELINE_CAP_S: f64 = 30.0 * 60.0;

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

    /// The story's moments: in seconds after the UpdateService when they land mid-poll, else
    /// 5 ms after these polls of the binary (its DescribeServices calls after the update,
    /// counted from 1).
    fn moments(self, phase: Phase) -> Vec<At> {
        let (mid_poll, polls): (&[f64], &[usize]) = match self {
            Scenario::PullError => (&[0.5], &[1]),
            Scenario::Exits => (&[0.5, 1.5, 2.5], &[1, 2, 3]),
            Scenario::RolloutFailed | Scenario::CircuitBreaker => (&[2.5], &[3]),
        };
        match phase {
            Phase::MidPoll => mid_poll.iter().map(|t| At::Time(*t)).collect(),
            Phase::AfterPoll => polls.iter().map(|n| At::AfterPoll(*n)).collect(),
        }
    }

    /// The stand-in's plot. After the scheduled stops, ECS keeps starting tasks that fail the
    /// same way (the first half a period later, so the binary's next look still sees the
    /// scheduled count).
    fn plot(self, phase: Phase) -> Plot {
        let moments = self.moments(phase);
        match self {
            Scenario::PullError => Plot::PullFails(Schedule::at(moments).then_every(10.5, 10.0)),
            Scenario::Exits => Plot::Exits(Schedule::at(moments).then_every(1.5, 1.0)),
            Scenario::RolloutFailed => Plot::RolloutFailed(moments[0].clone()),
            Scenario::CircuitBreaker => Plot::CircuitBreaker {
                exits: Schedule::never(),
                at: moments[0].clone(),
            },
        }
    }

    /// `deploymentCircuitBreaker` (enable, rollback).
    fn breaker(self) -> (bool, bool) {
        match self {
            Scenario::PullError | Scenario::Exits => (false, false),
            Scenario::RolloutFailed => (true, false),
            Scenario::CircuitBreaker => (true, true),
        }
    }

    /// The moment that makes the failure certain (the last of `events_needed`).
    fn decisive(self, phase: Phase) -> At {
        self.moments(phase)[self.events_needed() - 1].clone()
    }

    /// Whether this answer of the stand-in (to the binary) shows the failure as certain.
    fn shows_failure(self, e: &Exchange, certain_at: f64, update_id: &str) -> bool {
        if e.virtual_clock || e.status != 200 {
            return false;
        }
        match (self, e.op.as_deref()) {
            (Scenario::RolloutFailed | Scenario::CircuitBreaker, Some("DescribeServices")) => {
                e.at.is_some_and(|t| t >= certain_at)
            }
            (Scenario::PullError | Scenario::Exits, Some("DescribeTasks")) => {
                let ours = e.answer["tasks"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|t| t["startedBy"] == update_id)
                    .count();
                ours >= self.events_needed()
            }
            _ => false,
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
    let body = json!({ "cluster": CLUSTER, "services": [service] });
    let attempts = (BASELINE_CAP_S / BASELINE_DELAY_S) as u32;
    for attempt in 0..attempts {
        let at = f64::from(attempt) * BASELINE_DELAY_S;
        let json: Value = call_json_at(
            stand_in_url,
            "ecs",
            &format!("{ECS_TARGET}.DescribeServices"),
            &body,
            &[(VIRTUAL_CLOCK, &at.to_string())],
        )
        .unwrap_or_else(|(status, text)| {
            panic!("baseline DescribeServices: HTTP {status}: {text}")
        });
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
    let (enable, rollback) = scenario.breaker();
    let ecs = StandIn::builder(&moto, &s)
        .clock(Clock::Seconds)
        .service(&s.app_service, scenario.plot(phase))
        .breaker(&s.app_service, enable, rollback)
        .start();

    let mut app = seed::app_task_definition(&s.app_repo_uri);
    app["containerDefinitions"][0]["image"] = json!(format!("{}:v2", s.app_repo_uri));
    let outcome = Run::new(&ecs.url())
        .input("cluster", CLUSTER)
        .input("service", &s.app_service)
        .input("task-definition", "aws/app.json")
        .input("poll-interval-seconds", &POLL.as_secs().to_string())
        .input("rollback-on-failure", "false")
        .file("aws/app.json", &serde_json::to_string_pretty(&app).unwrap())
        .run();
    let exited = Instant::now();

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
    let updates = ecs.updates(&s.app_service);
    if updates.len() > 1 {
        fail("expected exactly one UpdateService (no rollback)");
    }
    let Some(update) = updates.first() else {
        fail("the binary never updated the service")
    };
    let Some(certain_at) = ecs.resolve(&s.app_service, &scenario.decisive(phase)) else {
        fail("the story never reached its failure")
    };
    let Some(served) = ecs
        .exchanges()
        .iter()
        .find(|e| scenario.shows_failure(e, certain_at, &update.id))
        .map(|e| e.answered)
    else {
        fail("the stand-in never served the answer that shows the failure")
    };
    let certain = update.at + Duration::from_secs_f64(certain_at);
    let baseline = baseline(&ecs.url(), &s.app_service);
    Measured {
        scenario,
        phase,
        certain_at,
        event_to_exit: exited.saturating_duration_since(certain),
        served_to_exit: exited.saturating_duration_since(served),
        polls: update.polls,
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
