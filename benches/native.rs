//! ECS-native deployment benchmark (issue 15): how long after the service deployment turned
//! SUCCESSFUL the real `ecs-deploy` binary exits. It reads the service deployment once per
//! `poll-interval-seconds`, so the figure must stay within one poll interval (plus writing the
//! outputs and the summary).
//!
//! Each run starts a private moto, seeds the DataSpace services and puts the scripted stand-in
//! of the integration tests (`support::standin`) in front of it, on its real-seconds clock: a
//! blue/green deployment whose SUCCESSFUL comes at a chosen moment after the UpdateService.
//!
//! `cargo bench --bench native` (cargo builds the binary first). It needs moto_server, found
//! like the integration tests find it: `ECS_DEPLOY_MOTO_SERVER`, else
//! `~/.cache/ecs-deploy/venv/bin/moto_server`.

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::path::Path;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::json;

use support::seed::{self, APP_REPO, CLUSTER};
use support::standin::NativePlot;
use support::{push_image, seed_dataspace, Clock, Moto, Run, StandIn};

/// The binary's `poll-interval-seconds` in this benchmark.
const POLL: Duration = Duration::from_secs(1);
/// The bake (seconds): SUCCESSFUL comes at 6 s + bake after the UpdateService, between polls
/// and just after one.
const BAKES: [f64; 4] = [0.5, 1.5, 1.05, 2.05];

fn epoch() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or_default()
}

fn run_once(bake: f64) -> Duration {
    let moto = Moto::start();
    let s = seed_dataspace(&moto);
    push_image(&moto, APP_REPO, "v2");
    let ecs = StandIn::builder(&moto, &s)
        .native(&s.app_service, "BLUE_GREEN", NativePlot::blue_green(bake))
        .clock(Clock::Seconds)
        .start();
    let mut app = seed::app_task_definition(&s.app_repo_uri);
    app["containerDefinitions"][0]["image"] = json!(format!("{}:v2", s.app_repo_uri));
    let o = Run::new(&ecs.url())
        .input("cluster", CLUSTER)
        .input("service", &s.app_service)
        .input("task-definition", "aws/app.json")
        .input("poll-interval-seconds", &POLL.as_secs().to_string())
        .file("aws/app.json", &serde_json::to_string_pretty(&app).unwrap())
        .run();
    let exited = epoch();
    assert_eq!(o.code, 0, "{}", o.all_text());
    let update = ecs.updates(&s.app_service)[0].epoch;
    // blue_green(bake): SUCCESSFUL at 5 + bake + 1 story seconds.
    let successful = update + 6.0 + bake;
    Duration::from_secs_f64((exited - successful).max(0.0))
}

fn main() {
    let bin = Path::new(env!("CARGO_BIN_EXE_ecs-deploy"));
    assert!(bin.exists(), "{} is missing", bin.display());
    let started = Instant::now();
    println!(
        "ECS-native deployment benchmark (issue 15), binary {}",
        bin.display()
    );
    println!(
        "poll-interval-seconds = {}: from the service deployment's SUCCESSFUL (in the stand-in's real-seconds story) to the process exit; target <= one poll interval\n",
        POLL.as_secs()
    );
    println!("| SUCCESSFUL at | SUCCESSFUL to exit | target |");
    println!("|---|---|---|");
    let mut worst = Duration::ZERO;
    for bake in BAKES {
        let d = run_once(bake);
        worst = worst.max(d);
        println!(
            "| +{:.2} s | {} ms | <= {} ms {} |",
            6.0 + bake,
            d.as_millis(),
            POLL.as_millis(),
            if d <= POLL { "ok" } else { "OVER" }
        );
    }
    println!(
        "\nworst: {} ms; whole benchmark: {:.1} s",
        worst.as_millis(),
        started.elapsed().as_secs_f64()
    );
}
