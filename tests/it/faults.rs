//! Hostile conditions on the AWS side (issue 8): a fault-injecting proxy in front of moto
//! (throttling, 5xx bursts, a permanently failing call), text from AWS that tries to issue
//! workflow commands, credentials that must never be printed, and two deploys at once.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::support::seed::{
    APP_CONTAINER, APP_REPO, APP_SERVICE, CLUSTER, OTEL_CONTAINER, OTEL_REPO, OTEL_SERVICE,
};
use crate::support::{
    amz_target, forward, push_image, seed_dataspace, HttpServer, Moto, MotoOptions, Request,
    Response, Run, Seeded, TokenBucket,
};

fn app_td(seeded: &Seeded) -> String {
    json!({
        "family": "dataspace-app",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "512",
        "memory": "1 GB",
        "containerDefinitions": [{
            "name": APP_CONTAINER,
            "image": format!("{}:${{IMAGE_TAG}}", seeded.app_repo_uri),
            "portMappings": [{"containerPort": 8000}],
            "environment": [{"name": "DJANGO_SECRET_KEY", "value": "${DJANGO_SECRET_KEY:-unset}"}]
        }]
    })
    .to_string()
}

fn otel_td(seeded: &Seeded) -> String {
    json!({
        "family": "dataspace-otel",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{
            "name": OTEL_CONTAINER,
            "image": format!("{}:${{IMAGE_TAG}}", seeded.otel_repo_uri),
            "portMappings": [{"containerPort": 4317}]
        }]
    })
    .to_string()
}

/// A deploy of both seeded services through `aws_url`, with images `tag` pushed to ECR.
fn deploy(moto: &Moto, aws_url: &str, seeded: &Seeded, tag: &str) -> Run {
    for repo in [APP_REPO, OTEL_REPO] {
        push_image(moto, repo, tag);
    }
    deploy_pushed(aws_url, seeded, tag)
}

/// The same deploy, for images already pushed.
fn deploy_pushed(aws_url: &str, seeded: &Seeded, tag: &str) -> Run {
    Run::new(aws_url)
        .input("cluster", CLUSTER)
        .input("service", APP_SERVICE)
        .input("task-definition", "aws/app.json")
        .input("otel-service", OTEL_SERVICE)
        .input("otel-task-definition", "aws/otel.json")
        .input("poll-interval-seconds", "0.2")
        .input("wait-for-minutes", "2")
        .env("IMAGE_TAG", tag)
        .file("aws/app.json", &app_td(seeded))
        .file("aws/otel.json", &otel_td(seeded))
}

fn service_td(moto: &Moto, service: &str) -> String {
    moto.service(CLUSTER, service)["taskDefinition"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn revision(arn: &str) -> &str {
    arn.rsplit(':').next().unwrap_or_default()
}

fn families(moto: &Moto) -> Vec<String> {
    moto.task_definition_arns()
}

fn start() -> (Moto, Seeded) {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    let seeded = seed_dataspace(&moto);
    (moto, seeded)
}

type Counts = Arc<Mutex<BTreeMap<String, usize>>>;

/// A proxy that counts the calls per operation and lets `answer` decide each one, given the
/// operation and how many of it came so far (this one included).
fn counting_proxy(
    answer: impl Fn(&Request, &str, usize) -> Response + Send + Sync + 'static,
) -> (HttpServer, Counts) {
    let seen: Counts = Arc::default();
    let counts = Arc::clone(&seen);
    let proxy = HttpServer::start(move |req: &Request| {
        let op = amz_target(req).unwrap_or("?").to_string();
        let n = {
            let mut c = counts.lock().unwrap();
            let n = c.entry(op.clone()).or_default();
            *n += 1;
            *n
        };
        answer(req, &op, n)
    });
    (proxy, seen)
}

fn throttled() -> Response {
    Response::aws_error(400, "ThrottlingException", "Rate exceeded")
}

#[test]
fn a_third_of_all_calls_throttled_still_deploys() {
    let (moto, seeded) = start();
    let url = moto.url();
    let n = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&n);
    // Each service throttles in its own protocol's shape: JSON for ECS, ECR, SSM and Logs
    // (X-Amz-Target), XML for the query protocols (STS, IAM).
    let proxy = HttpServer::start(move |req: &Request| {
        if counter.fetch_add(1, Ordering::SeqCst) % 3 == 1 {
            return match req.header("X-Amz-Target") {
                Some(_) => throttled(),
                None => Response::text(
                    400,
                    "<ErrorResponse><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>r-1</RequestId></ErrorResponse>",
                )
                .with_header("Content-Type", "text/xml"),
            };
        }
        forward(&url, req)
    });
    let out = deploy(&moto, &proxy.url(), &seeded, "t1").run();
    out.assert_code(0);
    assert_eq!(out.output("result"), "deployed", "{}", out.all_text());
    assert_eq!(revision(&service_td(&moto, APP_SERVICE)), "2");
    assert_eq!(revision(&service_td(&moto, OTEL_SERVICE)), "2");
    let throttles = n.load(Ordering::SeqCst) / 3;
    assert!(throttles >= 3, "only {throttles} calls were throttled");
}

/// A worker's task definition: its own family, on the app's image.
fn worker_td(seeded: &Seeded, i: usize) -> Value {
    json!({
        "family": format!("dataspace-worker-{i}"),
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{
            "name": "worker",
            "image": format!("{}:${{IMAGE_TAG}}", seeded.app_repo_uri),
        }]
    })
}

/// Deploys the two seeded services and `workers` more, each of its own family, through a
/// proxy that throttles what `bucket` refuses (it is asked for every call, the first full);
/// asserts that all deployed, each family registered exactly once, and that the bucket
/// throttled at least `at_least` calls.
fn many_services_through_a_bucket(
    workers: usize,
    bucket: impl Fn(&Request) -> bool + Send + Sync + 'static,
    at_least: usize,
) {
    let (moto, seeded) = start();
    let url = moto.url();
    let refused = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&refused);
    let proxy = HttpServer::start(move |req: &Request| {
        if !bucket(req) {
            counter.fetch_add(1, Ordering::SeqCst);
            return throttled();
        }
        forward(&url, req)
    });
    let mut deploy = deploy(&moto, &proxy.url(), &seeded, "w2");
    let mut lines = Vec::new();
    for i in 1..=workers {
        let mut first = worker_td(&seeded, i);
        first["containerDefinitions"][0]["image"] = json!(format!("{}:t0", seeded.app_repo_uri));
        let registered = moto.ecs("RegisterTaskDefinition", first);
        let arn = registered["taskDefinition"]["taskDefinitionArn"]
            .as_str()
            .unwrap()
            .to_string();
        let name = format!("dataspace-worker-{i}");
        moto.ecs("CreateService", seeded.service_body(CLUSTER, &name, &arn));
        let file = format!("aws/worker-{i}.json");
        deploy = deploy.file(&file, &worker_td(&seeded, i).to_string());
        lines.push(format!("{name}={file}"));
    }
    let before = families(&moto);
    let out = deploy
        .input("services", &lines.join("\n"))
        .input("wait-for-minutes", "3")
        .run();
    out.assert_code(0);
    assert_eq!(out.output("result"), "deployed", "{}", out.all_text());
    let throttles = refused.load(Ordering::SeqCst);
    assert!(
        throttles >= at_least,
        "the bucket throttled only {throttles} calls"
    );
    // Every service on revision 2 of its own family, and each family registered once.
    let mut services = vec![APP_SERVICE.to_string(), OTEL_SERVICE.to_string()];
    services.extend((1..=workers).map(|i| format!("dataspace-worker-{i}")));
    for service in &services {
        assert_eq!(revision(&service_td(&moto, service)), "2", "{service}");
    }
    let after = families(&moto);
    assert_eq!(
        after.len(),
        before.len() + services.len(),
        "one new revision per family, none twice: {after:?}"
    );
}

#[test]
fn twenty_services_under_an_ecs_token_bucket_all_deploy_once_each() {
    // ECS throttles with a token bucket per account (its request-throttling page): here a
    // bucket of 10 that refills at 10 a second over every ECS call, far below what 20
    // services at once ask for.
    let bucket = Mutex::new(TokenBucket::new(10.0, 10.0));
    let ecs = |req: &Request| {
        req.header("X-Amz-Target")
            .is_some_and(|h| h.starts_with("AmazonEC2ContainerServiceV20141113."))
    };
    many_services_through_a_bucket(18, move |req| !ecs(req) || bucket.lock().unwrap().take(), 5);
}

#[test]
fn registrations_past_the_bucket_wait_their_turn_and_all_deploy_once_each() {
    // ECS's bucket for RegisterTaskDefinition holds 20 and refills at one a second: past the
    // burst, a registration is throttled until its token comes, longer than any count of
    // attempts lasts. Here the same shape, smaller: 2 at once, then one a second, for 10
    // new revisions: 8 of them wait up to 8 s, throttled again and again.
    let bucket = Mutex::new(TokenBucket::new(2.0, 1.0));
    many_services_through_a_bucket(
        8,
        move |req| {
            amz_target(req) != Some("RegisterTaskDefinition") || bucket.lock().unwrap().take()
        },
        8,
    );
}

#[test]
fn a_503_burst_on_register_registers_each_revision_once() {
    let (moto, seeded) = start();
    let url = moto.url();
    let registers = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&registers);
    let proxy = HttpServer::start(move |req: &Request| {
        if amz_target(req) == Some("RegisterTaskDefinition")
            && seen.fetch_add(1, Ordering::SeqCst) < 3
        {
            return Response::aws_error(503, "ServiceUnavailableException", "Service Unavailable");
        }
        forward(&url, req)
    });
    let before = families(&moto).len();
    let out = deploy(&moto, &proxy.url(), &seeded, "t2").run();
    out.assert_code(0);
    assert_eq!(out.output("result"), "deployed");
    assert_eq!(
        families(&moto).len(),
        before + 2,
        "one new revision per family, no duplicates"
    );
    assert_eq!(
        registers.load(Ordering::SeqCst),
        5,
        "3 refused + 2 accepted"
    );
}

#[test]
fn update_failing_for_the_second_service_rolls_the_first_back() {
    let (moto, seeded) = start();
    let url = moto.url();
    let proxy = HttpServer::start(move |req: &Request| {
        if amz_target(req) == Some("UpdateService") && req.body_str().contains(OTEL_SERVICE) {
            return Response::aws_error(
                400,
                "AccessDeniedException",
                "User is not authorized to perform: ecs:UpdateService on dataspace-otel",
            );
        }
        forward(&url, req)
    });
    let app_before = service_td(&moto, APP_SERVICE);
    let out = deploy(&moto, &proxy.url(), &seeded, "t3").run();
    out.assert_code(1);
    assert_eq!(out.output("result"), "rolled-back", "{}", out.all_text());
    let text = out.all_text();
    assert!(text.contains("AccessDeniedException"), "{text}");
    assert!(text.contains("dataspace-otel"), "{text}");
    assert_eq!(
        service_td(&moto, APP_SERVICE),
        app_before,
        "the app is back where it was"
    );
    assert_eq!(revision(&service_td(&moto, OTEL_SERVICE)), "1");

    // The same deploy, once AWS lets it through, converges.
    let again = deploy_pushed(&moto.url(), &seeded, "t3").run();
    again.assert_code(0);
    assert_eq!(again.output("result"), "deployed", "{}", again.all_text());
    let app = moto.task_definition(&service_td(&moto, APP_SERVICE));
    assert!(app["containerDefinitions"][0]["image"]
        .as_str()
        .unwrap()
        .ends_with(":t3"));
    let otel = moto.task_definition(&service_td(&moto, OTEL_SERVICE));
    assert!(otel["containerDefinitions"][0]["image"]
        .as_str()
        .unwrap()
        .ends_with(":t3"));
}

/// Adds events to every DescribeServices answer, as ECS does, with hostile messages.
fn with_events(answer: Response, messages: &[&str]) -> Response {
    let mut body: Value = match serde_json::from_slice(&answer.body) {
        Ok(v) => v,
        Err(_) => return answer,
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    if let Some(services) = body["services"].as_array_mut() {
        for s in services {
            let events: Vec<Value> = messages
                .iter()
                .enumerate()
                .map(|(i, m)| json!({"id": format!("ev-{i}"), "createdAt": now, "message": m}))
                .collect();
            s["events"] = Value::Array(events);
        }
    }
    Response::aws_json(&body)
}

#[test]
fn text_from_aws_cannot_issue_workflow_commands() {
    let (moto, seeded) = start();
    let url = moto.url();
    let hostile = [
        "::add-mask::AKIDTESTTESTTEST",
        "(service dataspace-app) ::stop-commands::pwned",
        "::set-output name=result::deployed",
        "note ##[set-output name=result;]deployed",
    ];
    let proxy = HttpServer::start(move |req: &Request| {
        let answer = forward(&url, req);
        if amz_target(req) == Some("DescribeServices") {
            return with_events(answer, &hostile);
        }
        answer
    });
    let out = deploy(&moto, &proxy.url(), &seeded, "t4").run();
    out.assert_code(0);
    let stdout = &out.stdout;
    assert!(
        stdout.contains("add-mask"),
        "the events are shown: {stdout}"
    );
    // Every line that carries an event is inside a stop-commands fence, and none starts a command.
    let mut fence: Option<String> = None;
    for line in stdout.lines() {
        if let Some(token) = line.strip_prefix("::stop-commands::") {
            assert!(fence.is_none(), "nested fence");
            assert!(token.len() >= 32, "an unguessable token: {token}");
            fence = Some(token.to_string());
            continue;
        }
        if let Some(t) = &fence {
            if line == format!("::{t}::") {
                fence = None;
                continue;
            }
        }
        if line.contains("event:") {
            assert!(fence.is_some(), "an event outside a fence: {line}");
            assert!(
                !line.starts_with("::"),
                "an event line starts a command: {line}"
            );
            assert!(!line.contains("##["), "legacy command left intact: {line}");
        }
    }
    assert!(fence.is_none(), "an unclosed fence");
    assert_eq!(
        out.outputs.get("result").map(String::as_str),
        Some("deployed")
    );
}

#[test]
fn credentials_and_secret_values_never_appear_in_any_output() {
    let (moto, seeded) = start();
    let session_token = "canary-session-token-77e1a0";
    let secret_env = "canary-django-secret-5b21d9";
    let out = deploy(&moto, &moto.url(), &seeded, "t5")
        .env("AWS_SESSION_TOKEN", session_token)
        .env("DJANGO_SECRET_KEY", secret_env)
        .env("RUNNER_DEBUG", "1")
        .run();
    out.assert_code(0);
    let text = out.all_text();
    for canary in [
        crate::support::runner::SECRET_ACCESS_KEY,
        session_token,
        secret_env,
    ] {
        assert!(!text.contains(canary), "{canary} leaked:\n{text}");
    }
    // The secret did reach ECS, where it belongs.
    let app = moto.task_definition(&service_td(&moto, APP_SERVICE));
    assert_eq!(
        app["containerDefinitions"][0]["environment"][0]["value"],
        secret_env
    );
}

#[test]
fn two_deploys_at_once_leave_each_service_on_a_revision_one_of_them_registered() {
    let (moto, seeded) = start();
    let registered = Arc::new(Mutex::new(Vec::<String>::new()));
    let url = moto.url();
    let log = Arc::clone(&registered);
    let proxy = HttpServer::start(move |req: &Request| {
        let answer = forward(&url, req);
        if amz_target(req) == Some("RegisterTaskDefinition") {
            let body: Value = serde_json::from_slice(&answer.body).unwrap_or_default();
            if let Some(arn) = body["taskDefinition"]["taskDefinitionArn"].as_str() {
                log.lock().unwrap().push(arn.to_string());
            }
        }
        answer
    });
    let a = deploy(&moto, &proxy.url(), &seeded, "ca");
    let b = deploy(&moto, &proxy.url(), &seeded, "cb");
    let (oa, ob) = std::thread::scope(|s| {
        let ha = s.spawn(|| a.run());
        let hb = s.spawn(|| b.run());
        (ha.join().unwrap(), hb.join().unwrap())
    });
    let registered = registered.lock().unwrap().clone();
    assert_eq!(
        registered.len(),
        4,
        "each run registered both families once"
    );
    for service in [APP_SERVICE, OTEL_SERVICE] {
        let td = service_td(&moto, service);
        assert!(
            registered.contains(&td),
            "{service} runs {td}, which neither run registered"
        );
    }
    for o in [&oa, &ob] {
        // Both runs report what happened to them: deployed, or a failure naming the other run.
        match o.output("result") {
            "deployed" => assert_eq!(o.code, 0),
            other => {
                assert_eq!(o.code, 1, "{other}: {}", o.all_text());
                assert!(o.all_text().contains("someone else"), "{}", o.all_text());
            }
        }
    }
}

#[test]
fn a_refused_registration_changes_nothing_and_lists_no_changed_service() {
    let (moto, seeded) = start();
    let url = moto.url();
    let proxy = HttpServer::start(move |req: &Request| {
        if amz_target(req) == Some("RegisterTaskDefinition") {
            return Response::aws_error(
                400,
                "ClientException",
                "Fargate requires task definition to have execution role ARN to support log driver awslogs.",
            );
        }
        forward(&url, req)
    });
    let before = moto.snapshot(CLUSTER);
    let out = deploy(&moto, &proxy.url(), &seeded, "t6").run();
    out.assert_code(1);
    assert_eq!(out.output("result"), "failed", "{}", out.all_text());
    assert_eq!(out.output_json("changed-services"), json!([]));
    assert!(
        out.all_text().contains("execution role ARN"),
        "{}",
        out.all_text()
    );
    assert_eq!(moto.snapshot(CLUSTER), before, "nothing changed in ECS");
}

#[test]
fn a_refused_registration_of_one_service_updates_no_service() {
    let (moto, seeded) = start();
    let url = moto.url();
    let proxy = HttpServer::start(move |req: &Request| {
        if amz_target(req) == Some("RegisterTaskDefinition")
            && req.body_str().contains("\"dataspace-app\"")
        {
            return Response::aws_error(400, "ClientException", "Invalid setting for container.");
        }
        forward(&url, req)
    });
    let out = deploy(&moto, &proxy.url(), &seeded, "t7").run();
    out.assert_code(1);
    assert_eq!(out.output("result"), "failed", "{}", out.all_text());
    // The run has failed already: the other service is not updated (and not rolled back).
    assert_eq!(out.output_json("changed-services"), json!([]));
    assert!(
        out.all_text().contains(
            "registering the task definition of dataspace-app failed: no service is updated"
        ),
        "{}",
        out.all_text()
    );
    assert_eq!(revision(&service_td(&moto, APP_SERVICE)), "1");
    assert_eq!(revision(&service_td(&moto, OTEL_SERVICE)), "1");
}

#[test]
fn dropped_connections_are_retried_without_duplicate_registrations() {
    let (moto, seeded) = start();
    let url = moto.url();
    // The first register, the first update and the second poll never get an answer.
    let (proxy, seen) = counting_proxy(move |req, op, n| {
        if matches!(
            (op, n),
            ("RegisterTaskDefinition", 1) | ("UpdateService", 1) | ("DescribeServices", 2)
        ) {
            return Response::drop_connection();
        }
        forward(&url, req)
    });
    let before = families(&moto).len();
    let out = deploy(&moto, &proxy.url(), &seeded, "t8").run();
    out.assert_code(0);
    assert_eq!(out.output("result"), "deployed", "{}", out.all_text());
    assert_eq!(
        families(&moto).len(),
        before + 2,
        "one new revision per family"
    );
    let seen = seen.lock().unwrap();
    assert!(
        seen["RegisterTaskDefinition"] >= 3,
        "the dropped register was retried: {seen:?}"
    );
    assert_eq!(revision(&service_td(&moto, APP_SERVICE)), "2");
    assert_eq!(revision(&service_td(&moto, OTEL_SERVICE)), "2");
}

#[test]
fn a_response_slower_than_the_attempt_timeout_is_abandoned_and_retried() {
    let (moto, seeded) = start();
    let url = moto.url();
    let describes = Arc::new(AtomicUsize::new(0));
    let seen = Arc::clone(&describes);
    let proxy = HttpServer::start(move |req: &Request| {
        // The preflight's first DescribeServices answers after the SDK's 30 s attempt timeout.
        if amz_target(req) == Some("DescribeServices") && seen.fetch_add(1, Ordering::SeqCst) == 0 {
            std::thread::sleep(std::time::Duration::from_secs(32));
        }
        forward(&url, req)
    });
    let out = deploy(&moto, &proxy.url(), &seeded, "t9").run();
    out.assert_code(0);
    assert_eq!(out.output("result"), "deployed", "{}", out.all_text());
    assert!(
        describes.load(Ordering::SeqCst) >= 2,
        "the slow call was retried"
    );
    assert_eq!(revision(&service_td(&moto, APP_SERVICE)), "2");
}

/// The lines the runner reads from a step's output: .NET's `ReadLine` ends a line at `\r`,
/// `\n` and `\r\n`.
fn runner_lines(out: &str) -> Vec<&str> {
    out.split(['\r', '\n']).collect()
}

/// Adds a `command` holding `text` to the app's live task definition (revision 1) as ECS
/// describes it, so that the diff prints it.
fn with_live_command(answer: Response, text: &str) -> Response {
    let Ok(mut body) = serde_json::from_slice::<Value>(&answer.body) else {
        return answer;
    };
    if let Some(c) = body["taskDefinition"]["containerDefinitions"].get_mut(0) {
        c["command"] = json!([text]);
    }
    Response::aws_json(&body)
}

/// Issues 18 and 22: a carriage return ends a line for the runner. Text from AWS holding one,
/// printed in the diff summary (our own lines) and in the service events (fenced lines), may
/// not start a line the runner takes as a workflow command.
#[test]
fn a_carriage_return_from_aws_cannot_start_a_workflow_command() {
    let (moto, seeded) = start();
    let url = moto.url();
    let hostile =
        "gunicorn\r::add-mask::pwned-mask\r::warning::pwned-warning\r\n##[set-env name=PWNED]1";
    let event = "(service dataspace-app) ok\r::set-output name=result::pwned-event";
    let proxy = HttpServer::start(move |req: &Request| {
        let answer = forward(&url, req);
        match amz_target(req) {
            Some("DescribeTaskDefinition") if req.body_str().contains("dataspace-app:1") => {
                with_live_command(answer, hostile)
            }
            Some("DescribeServices") => with_events(answer, &[event]),
            _ => answer,
        }
    });
    let out = deploy(&moto, &proxy.url(), &seeded, "t10").run();
    out.assert_code(0);
    let stdout = &out.stdout;
    assert!(
        stdout.contains("pwned-warning") && stdout.contains("pwned-event"),
        "the texts are shown: {stdout}"
    );
    for line in runner_lines(stdout) {
        let t = line.trim();
        assert!(
            !t.starts_with("::add-mask")
                && !t.starts_with("::warning::pwned")
                && !t.starts_with("::set-output")
                && !line.contains("##["),
            "the runner would take this line as a command: {line:?}\n{stdout}"
        );
    }
    assert_eq!(out.output("result"), "deployed");
}

/// Issue 18: a short secret (here `1234`, which every ARN of account 123456789012 contains)
/// is not scrubbed: outputs are machine data, and an ARN is never corrupted.
#[test]
fn a_short_secret_leaves_the_arns_in_the_outputs_whole() {
    let (moto, seeded) = start();
    let out = deploy(&moto, &moto.url(), &seeded, "t11")
        .env("DJANGO_SECRET_KEY", "1234")
        .arg("--output")
        .arg("json")
        .run();
    out.assert_code(0);
    let arn = service_td(&moto, APP_SERVICE);
    assert!(arn.contains(":123456789012:"), "{arn}");
    assert_eq!(out.output("task-definition-arn"), arn, "{}", out.all_text());
    assert_eq!(out.output_json("task-definition-arns")[APP_SERVICE], arn);
    let json_line = out
        .stdout
        .lines()
        .find(|l| l.starts_with('{'))
        .unwrap_or_else(|| panic!("no JSON printed:\n{}", out.all_text()));
    let printed: Value = serde_json::from_str(json_line).unwrap();
    assert_eq!(printed["task-definition-arn"], arn);
}

/// Issue 22: `GITHUB_OUTPUT` (or the summary) pointing at a directory is an error naming the
/// variable and the path.
#[test]
fn an_output_file_that_is_a_directory_is_named() {
    let (moto, seeded) = start();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().to_string_lossy().to_string();
    let out = deploy(&moto, &moto.url(), &seeded, "t12")
        .input("mode", "plan")
        .env("GITHUB_OUTPUT", &path)
        .env("GITHUB_STEP_SUMMARY", &path)
        .run();
    let text = out.all_text();
    for variable in ["GITHUB_OUTPUT", "GITHUB_STEP_SUMMARY"] {
        assert!(
            text.contains(&format!("{variable} is {path}, which is a directory")),
            "{text}"
        );
    }
}

/// Deploys both seeded services through a proxy that carries out every call at moto and
/// then answers the `n`-th call of an operation as `after` says (its answer, or none);
/// asserts that no registration or update was sent again: exactly one new revision per
/// family, both services on it.
fn carried_out_but_answered_late(
    after: impl Fn(&str, usize, Response) -> Response + Send + Sync + 'static,
) {
    let (moto, seeded) = start();
    let url = moto.url();
    let (proxy, seen) = counting_proxy(move |req, op, n| after(op, n, forward(&url, req)));
    let before = families(&moto).len();
    let out = deploy(&moto, &proxy.url(), &seeded, "t10").run();
    out.assert_code(0);
    assert_eq!(out.output("result"), "deployed", "{}", out.all_text());
    assert_eq!(
        families(&moto).len(),
        before + 2,
        "exactly one new revision per family: {:?}",
        families(&moto)
    );
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen["RegisterTaskDefinition"], 2,
        "no registration was sent again: {seen:?}"
    );
    assert_eq!(
        seen["UpdateService"], 2,
        "no update was sent again: {seen:?}"
    );
    assert_eq!(revision(&service_td(&moto, APP_SERVICE)), "2");
    assert_eq!(revision(&service_td(&moto, OTEL_SERVICE)), "2");
}

/// Issue 19: `RegisterTaskDefinition` and `UpdateService` that AWS carried out but whose answer
/// was lost (the connection dropped after the call reached moto) are not sent again: the
/// binary looks first and finds the revision and the deployment it started.
#[test]
fn a_call_that_ran_but_lost_its_answer_is_not_repeated() {
    // The first register of each family and the first update: done, then no answer.
    carried_out_but_answered_late(|op, n, answer| match (op, n) {
        ("RegisterTaskDefinition", 1 | 2) | ("UpdateService", 1) => Response::drop_connection(),
        _ => answer,
    });
}

/// Issue 19: a registration ECS carried out but answered after the SDK's 30 s attempt
/// timeout: the attempt is abandoned, the retry looks first and adopts the revision.
#[test]
fn a_registration_answered_after_the_attempt_timeout_is_not_repeated() {
    first_answered_after_the_attempt_timeout("RegisterTaskDefinition");
}

/// Issue 19: the same for `UpdateService`: one deployment, not two.
#[test]
fn an_update_answered_after_the_attempt_timeout_starts_no_second_deployment() {
    first_answered_after_the_attempt_timeout("UpdateService");
}

/// The first `slow` call is carried out and answered after 32 s, past the SDK's 30 s
/// attempt timeout.
fn first_answered_after_the_attempt_timeout(slow: &'static str) {
    carried_out_but_answered_late(move |op, n, answer| {
        if (op, n) == (slow, 1) {
            std::thread::sleep(std::time::Duration::from_secs(32));
        }
        answer
    });
}

/// Issue 18: a proxy or captive portal that answers ECS calls with an HTML page and status
/// 200 is named as such, with what came back, instead of "unhandled error".
#[test]
fn an_html_page_instead_of_an_aws_answer_is_named() {
    let (moto, seeded) = start();
    let url = moto.url();
    let before = moto.snapshot(CLUSTER);
    let proxy = HttpServer::start(move |req: &Request| {
        if amz_target(req).is_some_and(|t| t.starts_with("DescribeServices")) {
            return Response::text(200, "<html><body>Please log in to the Wi-Fi</body></html>")
                .with_header("Content-Type", "text/html");
        }
        forward(&url, req)
    });
    let out = deploy(&moto, &proxy.url(), &seeded, "t11").run();
    out.assert_code(1);
    let text = out.all_text();
    assert!(!text.contains("unhandled error"), "{text}");
    assert!(
        text.contains("DescribeServices") || text.contains("describing the services"),
        "{text}"
    );
    assert!(text.contains("not an AWS response"), "{text}");
    assert!(
        text.contains("HTTP 200, content type text/html, body starting `<html><body>Please log in"),
        "{text}"
    );
    assert_eq!(moto.snapshot(CLUSTER), before, "nothing changed in ECS");
}
