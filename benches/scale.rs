//! Scale benchmark (issue 19): steady-state deploys of N = 1, 5, 20 and 50 services against
//! moto, through a proxy that counts AWS calls by operation and can add latency or throttle
//! ECS. Prints, in one run:
//! - per N: wall time, CPU time, peak memory (the process's VmHWM) and calls by operation, for
//!   a deploy where every service gets a new image;
//! - per N: the peak of the process's heap and stacks (`RssAnon`), which does not depend on
//!   the build: a release binary's peak is at most that plus the binary's size;
//! - per N: the same with 100 ms added to every call, and the sequential round trips derived
//!   from the difference (extra wall / 100 ms): the depth of the run's call graph, waits
//!   included (a poll is a round trip); and the depth the proxy saw up to the first poll
//!   after the last `UpdateService` (`SCALE_TRACE=1` prints each call with its depth);
//! - per N: from ECS done (moto completes a rollout at `UpdateService`) to the exit;
//! - 50 services with 30 % of ECS calls throttled at random, under a token bucket (burst
//!   20, refill 10 per second over all ECS calls), and under ECS's documented buckets (one
//!   per category of action): wall, throttled calls, result.
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
    amz_target, forward, push_image, seed_dataspace, throttle, HttpServer, Moto, MotoOptions,
    Request, Response, Run, Seeded, TokenBucket,
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
    /// ECS's own buckets: one per action category, with the burst and refill the ECS API
    /// reference documents ("Request throttling for the Amazon ECS API"), all full at start.
    Documented,
}

/// What the proxy does and what it counted.
struct Proxy {
    server: HttpServer,
    counts: Arc<Mutex<BTreeMap<String, usize>>>,
    throttled: Arc<AtomicUsize>,
    /// Every call: operation, when it arrived and when it was answered.
    trace: Arc<Mutex<Vec<(String, Instant, Instant)>>>,
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
    let trace = Arc::new(Mutex::new(Vec::new()));
    let (c, t, tr) = (
        Arc::clone(&counts),
        Arc::clone(&throttled),
        Arc::clone(&trace),
    );
    let seed = AtomicU64::new(0x9E37_79B9_7F4A_7C15);
    let bucket = match throttle {
        Throttle::Bucket(burst, refill) => Some(Mutex::new(TokenBucket::new(burst, refill))),
        _ => None,
    };
    let buckets: Mutex<BTreeMap<&'static str, TokenBucket>> = Mutex::default();
    let server = HttpServer::start(move |req: &Request| {
        let op = operation(req);
        let arrived = Instant::now();
        *c.lock().unwrap().entry(op.clone()).or_insert(0) += 1;
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
                Throttle::Bucket(..) => bucket.as_ref().is_some_and(|b| !b.lock().unwrap().take()),
                Throttle::Documented => {
                    let action = op.strip_prefix(ECS_PREFIX).unwrap_or(&op);
                    throttle::documented(action).is_some_and(|(category, burst, refill)| {
                        let mut all = buckets.lock().unwrap();
                        let b = all
                            .entry(category)
                            .or_insert_with(|| TokenBucket::new(burst, refill));
                        !b.take()
                    })
                }
            };
        if refuse {
            t.fetch_add(1, Ordering::Relaxed);
            return Response::aws_error(400, "ThrottlingException", "Rate exceeded");
        }
        let answer = forward(&upstream, req);
        tr.lock().unwrap().push((op, arrived, Instant::now()));
        answer
    });
    Proxy {
        server,
        counts,
        throttled,
        trace,
    }
}

struct Measured {
    wall: Duration,
    cpu: Duration,
    peak_kib: u64,
    /// The peak of the process's anonymous memory (heap and stacks, `RssAnon`): what the
    /// run itself uses, whatever build of the binary is mapped in beside it.
    peak_anon_kib: u64,
    code: i32,
    result: String,
    /// When the process exited.
    exited: Instant,
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
    let (mut peak_kib, mut peak_anon_kib, mut cpu) = (0u64, 0u64, Duration::ZERO);
    let kib = |status: &str, key: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
    };
    let status = loop {
        if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
            peak_kib = peak_kib.max(kib(&s, "VmHWM:").unwrap_or(0));
            peak_anon_kib = peak_anon_kib.max(kib(&s, "RssAnon:").unwrap_or(0));
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
    let exited = Instant::now();
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
        peak_anon_kib,
        code,
        result,
        exited,
    }
}

/// From ECS done to the exit: moto completes a rollout at `UpdateService`, so ECS is done
/// when the last `UpdateService` is answered; the rest is the wait's first look, the
/// decision, the outputs and the summary.
fn done_to_exit(p: &Proxy, exited: Instant) -> Option<Duration> {
    let trace = p.trace.lock().unwrap();
    let last_update = trace
        .iter()
        .filter(|(op, _, _)| op.ends_with("UpdateService"))
        .map(|(_, _, answered)| *answered)
        .max()?;
    Some(exited.duration_since(last_update))
}

/// moto with the app service and N - 1 workers, each on its own family (the app's task
/// definition under another name), as most accounts have them.
fn seeded(n: usize) -> (Moto, Seeded, Vec<String>) {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    let s = seed_dataspace(&moto);
    let workers: Vec<String> = (1..n).map(|i| format!("dataspace-worker-{i}")).collect();
    for name in &workers {
        let mut td = seed::app_task_definition(&s.app_repo_uri);
        td["family"] = json!(name);
        let registered = moto.ecs("RegisterTaskDefinition", td);
        let arn = registered["taskDefinition"]["taskDefinitionArn"]
            .as_str()
            .expect("a registered worker revision")
            .to_string();
        moto.ecs("CreateService", s.service_body(CLUSTER, name, &arn));
    }
    (moto, s, workers)
}

fn deploy(url: &str, s: &Seeded, workers: &[String], tag: &str) -> Run {
    let doc = |family: &str| {
        let mut td = seed::app_task_definition(&s.app_repo_uri);
        td["family"] = json!(family);
        td["containerDefinitions"][0]["image"] = json!(format!("{}:{tag}", s.app_repo_uri));
        serde_json::to_string_pretty(&td).unwrap()
    };
    let app_family = seed::app_task_definition(&s.app_repo_uri)["family"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let mut run = Run::new(url)
        .input("cluster", CLUSTER)
        .input("service", &s.app_service)
        .input("task-definition", "aws/app.json")
        .input("poll-interval-seconds", "1")
        .file("aws/app.json", &doc(&app_family));
    let mut lines = Vec::new();
    for w in workers {
        let file = format!("aws/{w}.json");
        run = run.file(&file, &doc(w));
        lines.push(format!("{w}={file}"));
    }
    run.input("services", &lines.join("\n"))
}

/// The depth of the run's call graph as the proxy saw it: a call is one deeper than the
/// deepest call answered before it arrived (so a call that waited for a free slot counts as
/// dependent too). With `SCALE_TRACE` set, each call is printed with its depth and times.
fn depth(p: &Proxy, label: &str) -> (usize, usize) {
    let mut calls = p.trace.lock().unwrap().clone();
    calls.sort_by_key(|c| c.1);
    let Some(first) = calls.first().map(|c| c.1) else {
        return (0, 0);
    };
    let last_update = calls
        .iter()
        .filter(|c| c.0.ends_with("UpdateService"))
        .map(|c| c.2)
        .max();
    let mut first_observe = None;
    let show = std::env::var_os("SCALE_TRACE").is_some();
    let mut depths: Vec<(Instant, usize)> = Vec::new();
    let mut deepest = 0;
    for (op, arrived, answered) in &calls {
        let d = 1 + depths
            .iter()
            .filter(|(end, _)| *end <= *arrived)
            .map(|(_, d)| *d)
            .max()
            .unwrap_or(0);
        depths.push((*answered, d));
        deepest = deepest.max(d);
        if first_observe.is_none()
            && op.ends_with("DescribeServices")
            && last_update.is_some_and(|u| u <= *arrived)
        {
            first_observe = Some(d);
        }
        if show {
            println!(
                "  {label} depth {d:>2} {:>6} ms .. {:>6} ms  {op}",
                arrived.duration_since(first).as_millis(),
                answered.duration_since(first).as_millis()
            );
        }
    }
    (first_observe.unwrap_or(deepest), deepest)
}

/// The deadline overrun: one service whose rollout never finishes (moto's default), a
/// 3-second deadline (`wait-for-minutes: 0.05`), 1 s polls, and from the first poll on every
/// call hangs for a minute. Printed: from the wait's start (the `UpdateService` answered) to
/// the exit, less the deadline, against the bound of one poll plus one attempt timeout.
fn deadline_with_aws_silent() {
    let moto = Moto::start_with(MotoOptions::default());
    let s = seed_dataspace(&moto);
    push_image(&moto, APP_REPO, "v2");
    let upstream = moto.url();
    let updated: Arc<Mutex<Option<Instant>>> = Arc::default();
    let seen = Arc::clone(&updated);
    let proxy = HttpServer::start(move |req: &Request| {
        let silent = seen.lock().unwrap().is_some();
        if silent {
            thread::sleep(Duration::from_secs(60));
        }
        let answer = forward(&upstream, req);
        if operation(req).ends_with("UpdateService") {
            *seen.lock().unwrap() = Some(Instant::now());
        }
        answer
    });
    let run = deploy(&proxy.url(), &s, &[], "v2")
        .input("wait-for-minutes", "0.05")
        .input("rollback-on-failure", "false");
    let m = measure(&run);
    let waited = updated
        .lock()
        .unwrap()
        .map(|u| u.elapsed())
        .unwrap_or_default();
    // `measure` returns at the exit: the time since the update is the wait, to the exit.
    let overrun = waited.as_secs_f64() - 3.0;
    println!("\n| deadline 3 s, AWS silent from the first poll on | wait to exit | overrun | bound: one poll (1 s) + one attempt timeout (30 s) | result |");
    println!("|---|---|---|---|---|");
    println!(
        "| 1 service, rollback off | {:.1} s | {overrun:.1} s | 31 s | {} (exit {}) |",
        waited.as_secs_f64(),
        m.result,
        m.code
    );
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
    let size = std::fs::metadata(&bin).map(|m| m.len()).unwrap_or(0);
    println!(
        "Scale benchmark (issue 19), binary {} ({:.1} MB)",
        bin.display(),
        size as f64 / 1e6
    );
    println!("every service gets a new image; moto completes each rollout at once; poll-interval-seconds 1\n");
    println!("| services | wall | CPU | peak memory | of which heap and stacks | AWS calls | with 100 ms per call | sequential round trips | call-graph depth to the first observe | ECS done to exit | calls by operation |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    // SCALE_SIZES=1,5 measures only those sizes (and skips the throttled runs).
    let only: Option<Vec<usize>> = std::env::var("SCALE_SIZES")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect());
    for n in only.clone().unwrap_or(SIZES.to_vec()) {
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
        let (to_observe, _) = depth(&slow, &format!("N={n}"));
        let done = done_to_exit(&plain, m.exited).unwrap_or_default();
        println!(
            "| {n} | {:.2} s | {:.2} s | {:.1} MB | {:.1} MB | {total} | {:.2} s | {trips:.1} | {to_observe} | {:.2} s | {by_op} |",
            m.wall.as_secs_f64(),
            m.cpu.as_secs_f64(),
            m.peak_kib as f64 / 1024.0,
            m.peak_anon_kib as f64 / 1024.0,
            l.wall.as_secs_f64(),
            done.as_secs_f64(),
        );
    }
    // SCALE_THROTTLES=random,bucket,documented picks the throttled runs (all by default).
    let picked = std::env::var("SCALE_THROTTLES").unwrap_or_default();
    if only.is_some() && picked.is_empty() {
        return;
    }
    println!("\n| 50 services, ECS throttled | wall | throttled calls | AWS calls | result |");
    println!("|---|---|---|---|---|");
    for (key, label, throttle) in [
        ("random", "30 % of ECS calls at random", Throttle::Random(0.3)),
        ("bucket", "token bucket over all ECS calls: burst 20, 10/s", Throttle::Bucket(20.0, 10.0)),
        (
            "documented",
            "ECS's documented buckets, one per action category (RegisterTaskDefinition: burst 20, 1/s)",
            Throttle::Documented,
        ),
    ] {
        if !picked.is_empty() && !picked.split(',').any(|p| p.trim() == key) {
            continue;
        }
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
    if picked.is_empty() {
        deadline_with_aws_silent();
    }
    println!(
        "\nwhole benchmark: {:.1} s",
        started.elapsed().as_secs_f64()
    );
}
