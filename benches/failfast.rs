//! Fail-fast benchmark (issue 20): with several services in one run and
//! `rollback-on-failure: true`, how long after the first failure is certain the rollback
//! calls of every service go out. The app's image cannot be pulled (certain at 1.5 s after its
//! UpdateService, half-way between two polls), while every other service's rollout is healthy
//! but slow (60 s to go): the run must not wait for them, and must undo them all at once.
//!
//! Each N starts a private moto, seeds the DataSpace services plus N - 2 workers, and puts the
//! scripted stand-in of the integration tests (`support::standin`) in front of it on its
//! real-seconds clock. Figures: from the failure being certain to the first and to the last
//! rollback `UpdateService` the stand-in received, and to the process exit.
//!
//! `cargo bench --bench failfast` (cargo builds the binary first). It needs moto_server, found
//! like the integration tests find it: `ECS_DEPLOY_MOTO_SERVER`, else
//! `~/.cache/ecs-deploy/venv/bin/moto_server`.

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use support::seed::{self, APP_REPO, CLUSTER, OTEL_REPO};
use support::{push_image, seed_dataspace, Clock, Moto, Plot, Run, Schedule, StandIn};

/// The binary's `poll-interval-seconds` in this benchmark.
const POLL: Duration = Duration::from_secs(1);
/// When the app's pull failure is certain, seconds after its UpdateService (mid-poll).
const FAILS_AT: f64 = 1.5;
const SIZES: [usize; 3] = [2, 10, 50];

struct Measured {
    first: Duration,
    last: Duration,
    exit: Duration,
}

fn run_once(n: usize) -> Measured {
    let moto = Moto::start();
    let s = seed_dataspace(&moto);
    push_image(&moto, APP_REPO, "v2");
    push_image(&moto, OTEL_REPO, "v2");
    let workers: Vec<String> = (1..=n - 2)
        .map(|i| format!("dataspace-worker-{i}"))
        .collect();
    for name in &workers {
        moto.ecs(
            "CreateService",
            s.service_body(CLUSTER, name, &s.app_task_definition_arn),
        );
    }
    let mut builder = StandIn::builder(&moto, &s)
        .clock(Clock::Seconds)
        .service(&s.app_service, Plot::PullFails(Schedule::at([FAILS_AT])))
        .service(&s.otel_service, Plot::Complete(60.0));
    for name in &workers {
        builder = builder.service(name, Plot::Complete(60.0));
    }
    let ecs = builder.start();
    let mut app = seed::app_task_definition(&s.app_repo_uri);
    app["containerDefinitions"][0]["image"] = json!(format!("{}:v2", s.app_repo_uri));
    let mut otel = seed::otel_task_definition(&s.otel_repo_uri);
    otel["containerDefinitions"][0]["image"] = json!(format!("{}:v2", s.otel_repo_uri));
    let lines: Vec<String> = workers
        .iter()
        .map(|w| format!("{w}=aws/app.json"))
        .collect();
    let o = Run::new(&ecs.url())
        .input("cluster", CLUSTER)
        .input("service", &s.app_service)
        .input("task-definition", "aws/app.json")
        .input("otel-service", &s.otel_service)
        .input("otel-task-definition", "aws/otel.json")
        .input("services", &lines.join("\n"))
        .input("poll-interval-seconds", &POLL.as_secs().to_string())
        .file("aws/app.json", &serde_json::to_string_pretty(&app).unwrap())
        .file(
            "aws/otel.json",
            &serde_json::to_string_pretty(&otel).unwrap(),
        )
        .run();
    let exited = Instant::now();
    assert_eq!(o.code, 1, "{}", o.all_text());
    assert_eq!(
        o.outputs.get("result").map(String::as_str),
        Some("rolled-back"),
        "{}",
        o.all_text()
    );
    let certain = ecs.updates(&s.app_service)[0].at + Duration::from_secs_f64(FAILS_AT);
    let mut all = vec![s.app_service.clone(), s.otel_service.clone()];
    all.extend(workers);
    let rollbacks: Vec<Instant> = all
        .iter()
        .map(|name| {
            let u = ecs.updates(name);
            assert_eq!(u.len(), 2, "{name}: one deploy and one rollback");
            u[1].at
        })
        .collect();
    let since = |t: Instant| t.saturating_duration_since(certain);
    Measured {
        first: since(*rollbacks.iter().min().unwrap()),
        last: since(*rollbacks.iter().max().unwrap()),
        exit: since(exited),
    }
}

fn main() {
    let bin = Path::new(env!("CARGO_BIN_EXE_ecs-deploy"));
    assert!(bin.exists(), "{} is missing", bin.display());
    let started = Instant::now();
    println!("Fail-fast benchmark (issue 20), binary {}", bin.display());
    println!(
        "poll-interval-seconds = {}: the app's pull failure is certain {FAILS_AT} s after its UpdateService; every other rollout has 60 s to go; target: the first rollback call within one poll interval of the failure, the others at once after it (at most ten AWS calls at a time)\n",
        POLL.as_secs()
    );
    println!("| services | failure certain to first rollback call | to last rollback call | first to last | to exit (rollbacks waited for) | first call within one poll |");
    println!("|---|---|---|---|---|---|");
    for n in SIZES {
        let m = run_once(n);
        println!(
            "| {n} | {} ms | {} ms | {} ms | {:.1} s | {} |",
            m.first.as_millis(),
            m.last.as_millis(),
            (m.last - m.first).as_millis(),
            m.exit.as_secs_f64(),
            if m.first <= POLL { "ok" } else { "OVER" }
        );
    }
    println!(
        "\nwhole benchmark: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
