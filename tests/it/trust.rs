//! Every exit speaks the same language, and nothing holds the run without a bound (issue 22):
//! `--output json` at every exit code, a closed stdout, the summary's size on a run with many
//! problems, a token endpoint that never answers, and a cancelled run mid-parse.

use std::io::Read;
use std::net::TcpListener;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::deploy::last_json_object;
use crate::support::Run;

/// No AWS behind this: every test here stops before the first AWS call.
const NO_AWS: &str = "http://127.0.0.1:9";

fn app_doc(environment: Vec<Value>) -> String {
    json!({
        "family": "dataspace-app",
        "networkMode": "awsvpc",
        "requiresCompatibilities": ["FARGATE"],
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{
            "name": "web",
            "image": "nginx:1.27",
            "environment": environment,
        }]
    })
    .to_string()
}

/// The keys every `--output json` object has, whatever the exit.
const SHAPE: &[&str] = &[
    "task-definition-arn",
    "otel-task-definition-arn",
    "task-definition-arns",
    "changed-services",
    "stack-deployed",
    "stack-outputs",
    "result",
    "errors",
];

fn assert_shape(doc: &Value) {
    for key in SHAPE {
        assert!(doc.get(*key).is_some(), "`{key}` missing from {doc:#}");
    }
}

#[test]
fn output_json_has_one_shape_on_bad_input_in_actions_and_in_the_cli() {
    // Actions: inputs as INPUT_*, the flag as an argument.
    let actions = Run::new(NO_AWS)
        .input("cluster", "dataspace-dev")
        .input("service", "dataspace-app")
        .input("task-definition", "aws/missing.json")
        .arg("--output")
        .arg("json")
        .run();
    actions.assert_code(2);
    let doc = last_json_object(&actions.stdout);
    assert_shape(&doc);
    assert_eq!(doc["result"], "failed");
    let errors = doc["errors"].as_array().expect("errors is an array");
    assert!(
        errors
            .iter()
            .any(|e| e.as_str().unwrap_or_default().contains("missing.json")),
        "{doc:#}"
    );
    assert_eq!(actions.output("result"), "failed");

    // The CLI, with an input problem clap itself refuses (an unknown flag).
    let cli = Run::new(NO_AWS)
        .without_env("GITHUB_ACTIONS")
        .arg("plan")
        .arg("--clusterr")
        .arg("x")
        .arg("--output")
        .arg("json")
        .run();
    cli.assert_code(2);
    let doc = last_json_object(&cli.stdout);
    assert_shape(&doc);
    assert_eq!(doc["result"], "failed");
    assert!(!doc["errors"].as_array().unwrap().is_empty(), "{doc:#}");
}

#[test]
fn render_into_a_closed_pipe_ends_quietly_with_its_exit_code() {
    // Larger than a pipe's buffer, so the write meets the closed pipe.
    let env: Vec<Value> = (0..3000)
        .map(|i| json!({ "name": format!("VAR_{i}"), "value": "x".repeat(40) }))
        .collect();
    let run = Run::new(NO_AWS)
        .without_env("GITHUB_ACTIONS")
        .file("td.json", &app_doc(env))
        .arg("render")
        .arg("--task-definition")
        .arg("td.json")
        .arg("--service")
        .arg("app");
    let mut child = run.spawn();
    drop(child.stdout.take());
    let status = child.wait().expect("waiting for render");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert_eq!(status.code(), Some(0), "{stderr}");
}

#[test]
fn the_summary_of_a_run_with_many_problems_stays_under_the_limit() {
    // 12,000 unset variables with long names: over 1 MiB of messages.
    let env: Vec<Value> = (0..12_000)
        .map(|i| {
            json!({
                "name": format!("V{i}"),
                "value": format!("${{AN_UNSET_VARIABLE_WITH_A_RATHER_LONG_NAME_NUMBER_{i:05}}}")
            })
        })
        .collect();
    let out = Run::new(NO_AWS)
        .input("cluster", "dataspace-dev")
        .input("service", "dataspace-app")
        .input("task-definition", "td.json")
        .file("td.json", &app_doc(env))
        .run();
    out.assert_code(2);
    assert!(
        out.stderr.len() + out.stdout.len() > 1_048_576,
        "the log has them all"
    );
    assert!(
        out.summary.len() < 1_048_576,
        "summary is {} bytes",
        out.summary.len()
    );
    assert!(out.summary.contains("invalid input, nothing was changed"));
}

#[test]
fn an_oidc_endpoint_that_never_answers_ends_the_run_within_its_bound() {
    // Accepts the connection and never answers.
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/token", listener.local_addr().unwrap());
    let hold = std::thread::spawn(move || {
        let conns: Vec<_> = listener.incoming().take(1).collect();
        std::thread::sleep(Duration::from_secs(45));
        drop(conns);
    });
    let started = Instant::now();
    let out = Run::new(NO_AWS)
        .input("cluster", "dataspace-dev")
        .input("service", "dataspace-app")
        .input("task-definition", "td.json")
        .input("role-to-assume", "arn:aws:iam::123456789012:role/deployer")
        .file("td.json", &app_doc(vec![]))
        .env("ACTIONS_ID_TOKEN_REQUEST_URL", &url)
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "canary-request-token")
        .run();
    let took = started.elapsed();
    out.assert_code(1);
    assert!(took < Duration::from_secs(40), "took {took:?}");
    assert!(
        out.all_text()
            .contains("OIDC token endpoint did not answer within 30 s"),
        "{}",
        out.all_text()
    );
    drop(hold);
}

/// Issue 18: inside Actions the job log is shared, so `render` redacts like every other
/// output; in a terminal it prints the whole document, which is what it is asked for.
#[test]
fn render_redacts_in_actions_and_prints_everything_in_a_terminal() {
    const CANARY: &str = "canary-render-secret-4411";
    let doc = app_doc(vec![
        json!({ "name": "DB_PASSWORD", "value": "${DB_PASSWORD}" }),
    ]);
    let actions = Run::new(NO_AWS)
        .input("mode", "render")
        .input("service", "dataspace-app")
        .input("task-definition", "td.json")
        .file("td.json", &doc)
        .env("DB_PASSWORD", CANARY)
        .run();
    actions.assert_code(0);
    assert!(
        !actions.all_text().contains(CANARY),
        "{}",
        actions.all_text()
    );
    assert!(actions.stdout.contains("DB_PASSWORD"), "{}", actions.stdout);

    let terminal = Run::new(NO_AWS)
        .without_env("GITHUB_ACTIONS")
        .arg("render")
        .arg("--service")
        .arg("dataspace-app")
        .arg("--task-definition")
        .arg("td.json")
        .file("td.json", &doc)
        .env("DB_PASSWORD", CANARY)
        .run();
    terminal.assert_code(0);
    assert!(terminal.stdout.contains(CANARY), "{}", terminal.stdout);
}

/// Issue 22: SIGTERM while a large file is still being parsed ends the run within the cancel
/// grace (3 s), not after the parse (the run is a task of its own; the parse is abandoned).
#[test]
fn sigterm_while_a_large_file_is_parsed_ends_the_run_within_the_grace() {
    // About 9 MB of YAML: seconds of parsing in a debug build, under the 10 MiB limit.
    let mut yaml = String::from(
        "family: big\ncontainerDefinitions:\n  - name: web\n    image: nginx:1\n    environment:\n",
    );
    for i in 0..95_000 {
        yaml.push_str(&format!(
            "      - name: V{i}\n        value: {}\n",
            "x".repeat(60)
        ));
    }
    let run = Run::new(NO_AWS)
        .input("cluster", "dataspace-dev")
        .input("service", "dataspace-app")
        .input("task-definition", "big.yaml")
        .file("big.yaml", &yaml);
    let mut child = run.spawn();
    std::thread::sleep(Duration::from_millis(300));
    let sent = Instant::now();
    let status = crate::support::runner::terminate(&mut child, sent + Duration::from_secs(60));
    let took = sent.elapsed();
    assert_eq!(status.code(), Some(1));
    assert!(
        took < Duration::from_secs(5),
        "exited {took:?} after SIGTERM"
    );
    let (outputs, summary) = run.files_written();
    assert_eq!(outputs.get("result").map(String::as_str), Some("failed"));
    assert!(summary.contains("SIGTERM received"), "{summary}");
}

/// Issue 18: a variable set to bytes that are not UTF-8 is named as such, not "not set";
/// exit 2 before any AWS call (no AWS behind this run).
#[test]
fn a_variable_whose_value_is_not_utf8_is_named_as_such() {
    let doc = app_doc(vec![json!({"name": "RAW", "value": "${RAW_VALUE}"})]);
    let o = Run::new(NO_AWS)
        .input("cluster", "dataspace-dev")
        .input("service", "dataspace-app")
        .input("task-definition", "aws/app.json")
        .file("aws/app.json", &doc)
        .env_bytes("RAW_VALUE", b"caf\xe9")
        .run();
    o.assert_code(2);
    let text = o.all_text();
    assert!(
        text.contains("variable RAW_VALUE is set, but its value is not UTF-8 text"),
        "{text}"
    );
    assert!(!text.contains("RAW_VALUE is not set"), "{text}");
}
