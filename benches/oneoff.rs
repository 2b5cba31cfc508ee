//! One-off task benchmark (issue 13): how long after the one-off task STOPPED the real
//! `ecs-deploy` binary sends the first `UpdateService` of the deploy it gated. The binary looks
//! at the task once per `poll-interval-seconds`, so the figure must stay within one poll
//! interval (plus the few milliseconds of the last log read and the call itself).
//!
//! Each run starts a private moto, seeds the DataSpace services and puts the scripted stand-in
//! of the integration tests (`support::standin`) in front of it; the task's story is in real
//! seconds since its RunTask (`TaskPlot`), and the stand-in records the wall-clock moment the
//! task stopped and when each UpdateService arrived.
//!
//! `cargo bench --bench oneoff` (cargo builds the binary first). It needs moto_server, found
//! like the integration tests find it: `ECS_DEPLOY_MOTO_SERVER`, else
//! `~/.cache/ecs-deploy/venv/bin/moto_server`.

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::json;

use support::seed::{self, APP_REPO, CLUSTER};
use support::{push_image, seed_dataspace, Moto, Plot, Run, StandIn, TaskPlot};

/// The binary's `poll-interval-seconds` in this benchmark.
const POLL: Duration = Duration::from_secs(1);
/// When the task stops, in seconds after RunTask: between polls, and just after one.
const STOPS_AT: [f64; 4] = [1.5, 2.5, 2.05, 3.05];

struct Measured {
    stops_at: f64,
    stopped_to_update: Duration,
    describe_calls: usize,
}

fn run_once(stops_at: f64) -> Measured {
    let moto = Moto::start();
    let s = seed_dataspace(&moto);
    push_image(&moto, APP_REPO, "v2");
    let ecs = StandIn::builder(&moto, &s)
        .service(&s.app_service, Plot::Complete(0.0))
        .task(TaskPlot::exits(0, stops_at).logs(&["Applying datasets.0042_add_license... OK"]))
        .start();
    let mut app = seed::app_task_definition(&s.app_repo_uri);
    app["containerDefinitions"][0]["image"] = json!(format!("{}:v2", s.app_repo_uri));
    let o = Run::new(&ecs.url())
        .input("cluster", CLUSTER)
        .input("service", &s.app_service)
        .input("task-definition", "aws/app.json")
        .input("run-task-command", "python manage.py migrate --noinput")
        .input("poll-interval-seconds", &POLL.as_secs().to_string())
        .file("aws/app.json", &serde_json::to_string_pretty(&app).unwrap())
        .run();
    assert_eq!(o.code, 0, "{}", o.all_text());
    let stopped = ecs.one_off_stopped_at()[0].expect("the task stopped");
    let update = ecs.updates(&s.app_service)[0].epoch;
    Measured {
        stops_at,
        stopped_to_update: Duration::from_secs_f64((update - stopped).max(0.0)),
        describe_calls: ecs.calls("DescribeTasks"),
    }
}

fn main() {
    let bin = Path::new(env!("CARGO_BIN_EXE_ecs-deploy"));
    assert!(bin.exists(), "{} is missing", bin.display());
    let started = Instant::now();
    println!(
        "one-off task benchmark (issue 13), binary {}",
        bin.display()
    );
    println!(
        "poll-interval-seconds = {}: from the task's STOPPED (the stand-in's stoppedAt) to the first UpdateService it receives; target <= one poll interval\n",
        POLL.as_secs()
    );
    println!("| task stops at | STOPPED to first UpdateService | target | DescribeTasks polls |");
    println!("|---|---|---|---|");
    let mut worst = Duration::ZERO;
    for at in STOPS_AT {
        let m = run_once(at);
        worst = worst.max(m.stopped_to_update);
        println!(
            "| +{:.2} s | {} ms | <= {} ms {} | {} |",
            m.stops_at,
            m.stopped_to_update.as_millis(),
            POLL.as_millis(),
            if m.stopped_to_update <= POLL {
                "ok"
            } else {
                "OVER"
            },
            m.describe_calls
        );
    }
    println!(
        "\nworst: {} ms; whole benchmark: {:.1} s",
        worst.as_millis(),
        started.elapsed().as_secs_f64()
    );
}
