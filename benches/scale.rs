//! Scale benchmark (issue 19): steady-state deploys of N = 1, 5, 20 and 50 services against
//! moto, through a proxy that counts AWS calls by operation and can add latency or throttle
//! ECS. Prints, in one run:
//! - per N: wall time, CPU time, peak memory (the process's VmHWM) and calls by operation, for
//!   a deploy where every service gets a new image;
//! - per N: the same with 100 ms added to every call, and the sequential round trips derived
//!   from the difference (extra wall / 100 ms): the depth of the run's call graph, waits
//!   included (a poll is a round trip);
//! - 50 services with 30 % of ECS calls throttled at random, and under a token bucket
//!   (burst 20, refill 10 per second over all ECS calls): wall, throttled calls, result.
//!
//! moto completes each rollout at once (`MotoOptions::service_running`), so the wait is one
//! poll. `cargo bench --bench scale` (cargo builds the binary first); moto_server is found
//! like the integration tests find it. `ECS_DEPLOY_BENCH_BIN=path` measures another build of
//! the binary (the release build: its memory is the figure that counts).

#[path = "../tests/it/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::Read;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::json;

use support::seed::{self, APP_REPO, CLUSTER};
use support::{
    amz_target, forward, push_image, seed_dataspace, HttpServer, Moto, MotoOptions, Request,
    Response, Run, Seeded,
};

const SIZES: [usize; 4] = [1, 5, 20, 50];
const LATENCY: Duration = Duration::from_millis(100);
const ECS_PREFIX: &str = "AmazonEC2ContainerServiceV20141113.";

#[derive(Clone, Copy)]
enum Throttle {
    Off,
    /// This share of ECS calls answered ThrottlingException, at random.
    Random(f64),
    /// A token bucket over all ECS calls: burst, refill per second.
    Bucket(f64, f64),
}

/// What the proxy does and what it counted.
struct Proxy {
    server: HttpServer,
    counts: Arc<Mutex<BTreeMap<String, usize>>>,
    throttled: Arc<AtomicUsize>,
}

fn operation(req: &Request) -> String {
    amz_target(req).map(str::to_string).unwrap_or_else(|| {
        let body = req.body_str();
        body.split('&')
            .find_map(|kv| kv.strip_prefix("Action="))
            .unwrap_or("?")
            .to_string()
    })
}

fn proxy(upstream: String, latency: Duration, throttle: Throttle) -> Proxy {
    let counts = Arc::new(Mutex::new(BTreeMap::new()));
    let throttled = Arc::new(AtomicUsize::new(0));
    let (c, t) = (Arc::clone(&counts), Arc::clone(&throttled));
    let seed = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    let bucket = Mutex::new((0.0f64, Instant::now(), true));
    let server = HttpServer::start(move |req: &Request| {
        let op = operation(req);
        *c.lock().unwrap().entry(op).or_insert(0) += 1;
        if !latency.is_zero() {
            thread::sleep(latency);
        }
        let ecs = req
            .header("X-Amz-Target")
            .is_some_and(|h| h.starts_with(ECS_PREFIX));
        let refuse = ecs
            && match throttle {
                Throttle::Off => false,
                Throttle::Random(share) => {
                    // xorshift64: repeatable, no dependency.
                    let mut x = seed.load(Ordering::Relaxed);
                    x ^= x << 13;
                    x ^= x >> 7;
                    x ^= x << 17;
                    seed.store(x, Ordering::Relaxed);
                    (x % 10_000) as f64 / 10_000.0 < share
                }
                Throttle::Bucket(burst, refill) => {
                    let mut b = bucket.lock().unwrap();
                    if b.2 {
                        *b = (burst, Instant::now(), false);
                    }
                    let now = Instant::now();
                    b.0 = (b.0 + now.duration_since(b.1).as_secs_f64() * refill).min(burst);
                    b.1 = now;
                    if b.0 >= 1.0 {
                        b.0 -= 1.0;
                        false
                    } else {
                        true
                    }
                }
            };
        if refuse {
            t.fetch_add(1, Ordering::Relaxed);
            return Response::aws_error(400, "ThrottlingException", "Rate exceeded");
        }
        forward(&upstream, req)
    });
    Proxy {
        server,
        counts,
        throttled,
    }
}

struct Measured {
    wall: Duration,
    cpu: Duration,
    peak_kib: u64,
    code: i32,
    result: String,
}

/// Runs the binary, sampling its peak memory and CPU time from /proc until it exits.
fn measure(run: &Run) -> Measured {
    let ticks = 100.0; // USER_HZ on Linux
    let started = Instant::now();
    let mut child = run.spawn();
    let pid = child.id();
    let drain = |r: Option<Box<dyn Read + Send>>| {
        thread::spawn(move || {
            let mut s = String::new();
            if let Some(mut r) = r {
                let _ = r.read_to_string(&mut s);
            }
            s
        })
    };
    let out = drain(
        child
            .stdout
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let err = drain(
        child
            .stderr
            .take()
            .map(|s| Box::new(s) as Box<dyn Read + Send>),
    );
    let (mut peak_kib, mut cpu) = (0u64, Duration::ZERO);
    let status = loop {
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            if let Some(kib) = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            {
                peak_kib = peak_kib.max(kib);
            }
        }
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            // Fields after the command's closing parenthesis: utime is the 12th, stime the 13th.
            let rest = s.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
            let f: Vec<&str> = rest.split_whitespace().collect();
            if f.len() > 12 {
                let t = f[11].parse::<f64>().unwrap_or(0.0) + f[12].parse::<f64>().unwrap_or(0.0);
                cpu = cpu.max(Duration::from_secs_f64(t / ticks));
            }
        }
        if let Some(s) = child.try_wait().expect("waiting for ecs-deploy") {
            break s;
        }
        thread::sleep(Duration::from_millis(5));
    };
    let wall = started.elapsed();
    let (stdout, stderr) = (
        out.join().unwrap_or_default(),
        err.join().unwrap_or_default(),
    );
    let code = status.code().unwrap_or(-1);
    let (outputs, _) = run.files_written();
    let result = outputs.get("result").cloned().unwrap_or_default();
    if code != 0 {
        eprintln!("exit {code}\n{stdout}\n{stderr}");
    }
    Measured {
        wall,
        cpu,
        peak_kib,
        code,
        result,
    }
}

/// moto with the app service and N - 1 workers, each on the app's task definition.
fn seeded(n: usize) -> (Moto, Seeded, Vec<String>) {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    let s = seed_dataspace(&moto);
    let workers: Vec<String> = (1..n).map(|i| format!("dataspace-worker-{i}")).collect();
    for name in &workers {
        moto.ecs(
            "CreateService",
            s.service_body(CLUSTER, name, &s.app_task_definition_arn),
        );
    }
    (moto, s, workers)
}

fn deploy(url: &str, s: &Seeded, workers: &[String], tag: &str) -> Run {
    let mut app = seed::app_task_definition(&s.app_repo_uri);
    app["containerDefinitions"][0]["image"] = json!(format!("{}:{tag}", s.app_repo_uri));
    let lines: Vec<String> = workers
        .iter()
        .map(|w| format!("{w}=aws/app.json"))
        .collect();
    Run::new(url)
        .input("cluster", CLUSTER)
        .input("service", &s.app_service)
        .input("task-definition", "aws/app.json")
        .input("services", &lines.join("\n"))
        .input("poll-interval-seconds", "1")
        .file("aws/app.json", &serde_json::to_string_pretty(&app).unwrap())
}

fn calls(p: &Proxy) -> (usize, String) {
    let counts = p.counts.lock().unwrap();
    let total = counts.values().sum();
    let list: Vec<String> = counts.iter().map(|(op, n)| format!("{op} {n}")).collect();
    (total, list.join(", "))
}

fn main() {
    let bin = support::runner::binary();
    assert!(bin.exists(), "{} is missing", bin.display());
    let started = Instant::now();
    println!("Scale benchmark (issue 19), binary {}", bin.display());
    println!("every service gets a new image; moto completes each rollout at once; poll-interval-seconds 1\n");
    println!("| services | wall | CPU | peak memory | AWS calls | with 100 ms per call | sequential round trips | calls by operation |");
    println!("|---|---|---|---|---|---|---|---|");
    for n in SIZES {
        let (moto, s, workers) = seeded(n);
        for tag in ["v2", "v3"] {
            push_image(&moto, APP_REPO, tag);
        }
        let plain = proxy(moto.url(), Duration::ZERO, Throttle::Off);
        let m = measure(&deploy(&plain.server.url(), &s, &workers, "v2"));
        assert_eq!((m.code, m.result.as_str()), (0, "deployed"), "N = {n}");
        let (total, by_op) = calls(&plain);
        let slow = proxy(moto.url(), LATENCY, Throttle::Off);
        let l = measure(&deploy(&slow.server.url(), &s, &workers, "v3"));
        assert_eq!(
            (l.code, l.result.as_str()),
            (0, "deployed"),
            "N = {n}, latency"
        );
        let trips = (l.wall.as_secs_f64() - m.wall.as_secs_f64()) / LATENCY.as_secs_f64();
        println!(
            "| {n} | {:.2} s | {:.2} s | {:.1} MB | {total} | {:.2} s | {trips:.1} | {by_op} |",
            m.wall.as_secs_f64(),
            m.cpu.as_secs_f64(),
            m.peak_kib as f64 / 1024.0,
            l.wall.as_secs_f64(),
        );
    }
    println!("\n| 50 services, ECS throttled | wall | throttled calls | AWS calls | result |");
    println!("|---|---|---|---|---|");
    for (label, throttle) in [
        ("30 % of ECS calls at random", Throttle::Random(0.3)),
        ("token bucket: burst 20, 10/s", Throttle::Bucket(20.0, 10.0)),
    ] {
        let (moto, s, workers) = seeded(50);
        push_image(&moto, APP_REPO, "v2");
        let p = proxy(moto.url(), Duration::ZERO, throttle);
        let m = measure(&deploy(&p.server.url(), &s, &workers, "v2"));
        let (total, _) = calls(&p);
        println!(
            "| {label} | {:.1} s | {} | {total} | {} (exit {}) |",
            m.wall.as_secs_f64(),
            p.throttled.load(Ordering::Relaxed),
            m.result,
            m.code
        );
    }
    println!(
        "\nwhole benchmark: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
