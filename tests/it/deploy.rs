//! The core deploy (issue 2), end to end: the real binary run as a container action against
//! moto, from the seeded DataSpace layout (two Fargate services on revision 1). Each test
//! asserts what ECS holds afterwards (revisions, images, environment values, desired counts,
//! deployment ids), the outputs and job summary, and the exit code; the CLI tests run the same
//! binary without `GITHUB_ACTIONS`.

use serde_json::{json, Value};

use crate::support::seed::{self, APP_CONTAINER, OTEL_CONTAINER};
use crate::support::*;

/// The ECR registry of moto's account, as a workflow would export it after `docker push`.
const REGISTRY: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";
/// The image tag the workflow pushed (a short commit SHA).
const TAG: &str = "8f14e45fceea";

/// The app's task definition as a repository holds it (like examples/dataspace/aws), family
/// and container names matching the seeded service so a deploy makes revision 2.
const APP_JSON: &str = r#"{
  "family": "dataspace-app",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "512",
  "memory": "1 GB",
  "executionRoleArn": "${ECS_EXECUTION_ROLE_ARN}",
  "taskRoleArn": "arn:aws:iam::123456789012:role/dataspace-ecs-task",
  "containerDefinitions": [
    {
      "name": "dataspace",
      "image": "${ECR_REGISTRY}/dataspace:${IMAGE_TAG}",
      "essential": true,
      "portMappings": [{ "containerPort": 8000, "protocol": "tcp" }],
      "command": ["sh", "-c", "python manage.py migrate --noinput && gunicorn dataspace.wsgi --bind 0.0.0.0:$PORT"],
      "environment": [
        { "name": "ENVIRONMENT", "value": "${ENVIRONMENT}" },
        { "name": "PORT", "value": "8000" },
        { "name": "DJANGO_SETTINGS_MODULE", "value": "dataspace.settings.production" },
        { "name": "DJANGO_ALLOWED_HOSTS", "value": "${DJANGO_ALLOWED_HOSTS:-*}" },
        { "name": "DB_HOST", "value": "${DB_HOST:-localhost}" },
        { "name": "OTEL_EXPORTER_OTLP_ENDPOINT", "value": "http://localhost:4317" }
      ],
      "secrets": [
        { "name": "DB_PASSWORD", "valueFrom": "/dataspace/${ENVIRONMENT}/db/password" }
      ],
      "healthCheck": {
        "command": ["CMD-SHELL", "curl -fsS http://localhost:$PORT/health/ || exit 1"],
        "startPeriod": 60
      },
      "logConfiguration": {
        "logDriver": "awslogs",
        "options": {
          "awslogs-group": "/ecs/dataspace",
          "awslogs-region": "${AWS_REGION}",
          "awslogs-stream-prefix": "app"
        }
      }
    }
  ]
}
"#;

const OTEL_JSON: &str = r#"{
  "family": "dataspace-otel",
  "networkMode": "awsvpc",
  "requiresCompatibilities": ["FARGATE"],
  "cpu": "512",
  "memory": "1024",
  "executionRoleArn": "${ECS_EXECUTION_ROLE_ARN}",
  "containerDefinitions": [
    {
      "name": "otel-collector",
      "image": "${ECR_REGISTRY}/otel-collector:${IMAGE_TAG}",
      "essential": true,
      "command": ["--config=/etc/otelcol/config.yaml"],
      "portMappings": [
        { "containerPort": 4317, "protocol": "tcp" },
        { "containerPort": 4318, "protocol": "tcp" }
      ],
      "environment": [
        { "name": "ENVIRONMENT", "value": "${ENVIRONMENT}" },
        { "name": "ELASTICSEARCH_ENDPOINT", "value": "${ELASTICSEARCH_HOST:-localhost}" }
      ],
      "logConfiguration": {
        "logDriver": "awslogs",
        "options": {
          "awslogs-group": "/ecs/dataspace-otel",
          "awslogs-region": "${AWS_REGION}",
          "awslogs-stream-prefix": "otel"
        }
      }
    }
  ]
}
"#;

/// The same app task definition as APP_JSON, written in YAML.
const APP_YAML: &str = r#"# The DataSpace Django app.
family: dataspace-app
networkMode: awsvpc
requiresCompatibilities: [FARGATE]
cpu: "512"
memory: 1 GB
executionRoleArn: ${ECS_EXECUTION_ROLE_ARN}
taskRoleArn: arn:aws:iam::123456789012:role/dataspace-ecs-task
containerDefinitions:
  - name: dataspace
    image: ${ECR_REGISTRY}/dataspace:${IMAGE_TAG}
    essential: true
    portMappings:
      - containerPort: 8000
        protocol: tcp
    command:
      - sh
      - -c
      - python manage.py migrate --noinput && gunicorn dataspace.wsgi --bind 0.0.0.0:$PORT
    environment:
      - name: ENVIRONMENT
        value: ${ENVIRONMENT}
      - name: PORT
        value: "8000"
      - name: DJANGO_SETTINGS_MODULE
        value: dataspace.settings.production
      - name: DJANGO_ALLOWED_HOSTS
        value: ${DJANGO_ALLOWED_HOSTS:-*}
      - name: DB_HOST
        value: ${DB_HOST:-localhost}
      - name: OTEL_EXPORTER_OTLP_ENDPOINT
        value: http://localhost:4317
    secrets:
      - name: DB_PASSWORD
        valueFrom: /dataspace/${ENVIRONMENT}/db/password
    healthCheck:
      command: [CMD-SHELL, "curl -fsS http://localhost:$PORT/health/ || exit 1"]
      startPeriod: 60
    logConfiguration:
      logDriver: awslogs
      options:
        awslogs-group: /ecs/dataspace
        awslogs-region: ${AWS_REGION}
        awslogs-stream-prefix: app
"#;

const APP_FILE: &str = "aws/task-definition.json";
const OTEL_FILE: &str = "aws/otel-collector-task-definition.json";

/// The SSM parameter behind the app's `DB_PASSWORD` secret, and its value (never printed).
const DB_PASSWORD_PARAMETER: &str = "/dataspace/dev/db/password";
const DB_PASSWORD: &str = "canary-db-password-0001";

/// moto with rollouts that complete at once, the DataSpace layout, and what the
/// infrastructure stack would have made: the `TAG` images pushed and the DB password parameter
/// (the seed makes the log groups; deploy checks images, secrets and log groups before any
/// change).
fn start() -> (Moto, Seeded) {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    let s = seed_dataspace(&moto);
    push_image(&moto, seed::APP_REPO, TAG);
    push_image(&moto, seed::OTEL_REPO, TAG);
    moto.call_json(
        "ssm",
        "AmazonSSM.PutParameter",
        json!({ "Name": DB_PASSWORD_PARAMETER, "Value": DB_PASSWORD, "Type": "SecureString" }),
    );
    (moto, s)
}

/// The workflow step of the user story: both services, both files, the variables a workflow
/// exports, a short poll interval.
fn dataspace(moto: &Moto, s: &Seeded) -> Run {
    Run::new(&moto.url())
        .file(APP_FILE, APP_JSON)
        .file(OTEL_FILE, OTEL_JSON)
        .input("cluster", &s.cluster)
        .input("service", &s.app_service)
        .input("task-definition", APP_FILE)
        .input("otel-service", &s.otel_service)
        .input("otel-task-definition", OTEL_FILE)
        .input("poll-interval-seconds", "0.2")
        .env("ECR_REGISTRY", REGISTRY)
        .env("IMAGE_TAG", TAG)
        .env("ENVIRONMENT", "dev")
        .env(
            "ECS_EXECUTION_ROLE_ARN",
            "arn:aws:iam::123456789012:role/dataspace-ecs-execution",
        )
}

fn tagged(repo: &str, tag: &str) -> String {
    format!("{REGISTRY}/{repo}:{tag}")
}

fn revision(family: &str, n: u32) -> String {
    format!("arn:aws:ecs:us-east-1:123456789012:task-definition/{family}:{n}")
}

/// The task definition a service runs now, as ECS describes it.
fn live_task_definition(moto: &Moto, s: &Seeded, service: &str) -> (String, Value) {
    let arn = moto.service(&s.cluster, service)["taskDefinition"]
        .as_str()
        .unwrap_or_else(|| panic!("service {service} has no taskDefinition"))
        .to_string();
    let td = moto.task_definition(&arn);
    (arn, td)
}

fn container<'a>(td: &'a Value, name: &str) -> &'a Value {
    td["containerDefinitions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["name"] == name))
        .unwrap_or_else(|| panic!("no container {name} in {td:#}"))
}

fn env_value<'a>(c: &'a Value, name: &str) -> Option<&'a Value> {
    c["environment"]
        .as_array()?
        .iter()
        .find(|e| e["name"] == name)
        .map(|e| &e["value"])
}

fn primary_id(moto: &Moto, s: &Seeded, service: &str) -> String {
    let svc = moto.service(&s.cluster, service);
    svc["deployments"]
        .as_array()
        .and_then(|ds| ds.iter().find(|d| d["status"] == "PRIMARY"))
        .and_then(|d| d["id"].as_str())
        .unwrap_or_else(|| panic!("no PRIMARY deployment: {svc:#}"))
        .to_string()
}

/// The last line of stdout that is a JSON object: the CLI's `--output json`.
pub(crate) fn last_json_object(stdout: &str) -> Value {
    stdout
        .lines()
        .rev()
        .find_map(|l| {
            serde_json::from_str::<Value>(l.trim())
                .ok()
                .filter(Value::is_object)
        })
        .unwrap_or_else(|| panic!("no JSON object on stdout:\n{stdout}"))
}

#[test]
fn two_service_dataspace_deploy_registers_both_and_reports() {
    let (moto, s) = start();
    let out = dataspace(&moto, &s).run();
    out.assert_code(0);

    let app2 = revision("dataspace-app", 2);
    let otel2 = revision("dataspace-otel", 2);
    let (app_arn, app_td) = live_task_definition(&moto, &s, &s.app_service);
    let (otel_arn, otel_td) = live_task_definition(&moto, &s, &s.otel_service);
    assert_eq!(app_arn, app2, "{}", out.all_text());
    assert_eq!(otel_arn, otel2, "{}", out.all_text());
    let app = container(&app_td, APP_CONTAINER);
    assert_eq!(app["image"], json!(tagged("dataspace", TAG)));
    assert_eq!(env_value(app, "ENVIRONMENT"), Some(&json!("dev")));
    assert_eq!(env_value(app, "DJANGO_ALLOWED_HOSTS"), Some(&json!("*")));
    assert_eq!(app["secrets"][0]["valueFrom"], DB_PASSWORD_PARAMETER);
    assert_eq!(
        app["logConfiguration"]["options"]["awslogs-region"],
        "us-east-1"
    );
    assert_eq!(
        app_td["executionRoleArn"],
        "arn:aws:iam::123456789012:role/dataspace-ecs-execution"
    );
    // A bare $PORT belongs to the container's shell: left alone.
    assert!(app["command"][2]
        .as_str()
        .unwrap()
        .ends_with("0.0.0.0:$PORT"));
    let otel = container(&otel_td, OTEL_CONTAINER);
    assert_eq!(otel["image"], json!(tagged("otel-collector", TAG)));
    assert_eq!(
        env_value(otel, "ELASTICSEARCH_ENDPOINT"),
        Some(&json!("localhost"))
    );
    // desired-count not given: untouched.
    for name in s.services() {
        assert_eq!(moto.service(&s.cluster, &name)["desiredCount"], 1);
    }

    assert_eq!(out.output("result"), "deployed");
    assert_eq!(out.output("task-definition-arn"), app2);
    assert_eq!(out.output("otel-task-definition-arn"), otel2);
    assert_eq!(
        out.output_json("task-definition-arns"),
        json!({ "dataspace-app": app2, "dataspace-otel": otel2 })
    );
    let mut changed: Vec<String> =
        serde_json::from_value(out.output_json("changed-services")).unwrap();
    changed.sort();
    assert_eq!(changed, s.services());
    assert_eq!(out.output("stack-deployed"), "false");

    for (service, family) in [
        ("dataspace-app", "dataspace-app"),
        ("dataspace-otel", "dataspace-otel"),
    ] {
        let row = out
            .summary
            .lines()
            .find(|l| l.starts_with(&format!("| `{service}` |")))
            .unwrap_or_else(|| panic!("no summary row for {service}:\n{}", out.summary));
        assert!(
            row.contains(&format!("`{family}:1` → `{family}:2`")),
            "{row}"
        );
        assert!(row.contains("deployed"), "{row}");
        assert!(row.contains(TAG), "{row}");
    }
    for secret in [runner::SECRET_ACCESS_KEY, DB_PASSWORD] {
        assert!(!out.all_text().contains(secret), "{}", out.all_text());
    }
}

#[test]
fn second_identical_run_registers_nothing() {
    let (moto, s) = start();
    let run = dataspace(&moto, &s);
    run.run().assert_code(0);
    let before = moto.snapshot(&s.cluster);

    let out = run.run();
    out.assert_code(0);
    assert_eq!(before, moto.snapshot(&s.cluster), "{}", out.all_text());
    assert_eq!(out.output("result"), "unchanged");
    assert_eq!(out.output_json("changed-services"), json!([]));
    assert_eq!(
        out.output("task-definition-arn"),
        revision("dataspace-app", 2)
    );
    assert_eq!(
        before["taskDefinitionArns"].as_array().unwrap().len(),
        4,
        "{before:#}"
    );
}

#[test]
fn hostile_environment_value_arrives_byte_for_byte_and_is_never_printed() {
    let (moto, s) = start();
    let hostile = "quote\" back\\slash\nnext line\",\"privileged\":true,\"x\":\"";
    let app = APP_JSON.replace(
        r#"{ "name": "PORT", "value": "8000" },"#,
        r#"{ "name": "PORT", "value": "8000" },
        { "name": "GREETING", "value": "${GREETING}" },"#,
    );
    assert_ne!(app, APP_JSON);
    let out = dataspace(&moto, &s)
        .file(APP_FILE, &app)
        .env("GREETING", hostile)
        .run();
    out.assert_code(0);

    let (arn, td) = live_task_definition(&moto, &s, &s.app_service);
    assert_eq!(arn, revision("dataspace-app", 2));
    let c = container(&td, APP_CONTAINER);
    assert_eq!(env_value(c, "GREETING"), Some(&json!(hostile)));
    let names: Vec<&str> = c["environment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    let mut names_sorted = names.clone();
    names_sorted.sort();
    assert_eq!(
        names_sorted,
        vec![
            "DB_HOST",
            "DJANGO_ALLOWED_HOSTS",
            "DJANGO_SETTINGS_MODULE",
            "ENVIRONMENT",
            "GREETING",
            "OTEL_EXPORTER_OTLP_ENDPOINT",
            "PORT"
        ]
    );
    for entry in c["environment"].as_array().unwrap() {
        let keys: Vec<&String> = entry.as_object().unwrap().keys().collect();
        assert_eq!(keys, ["name", "value"], "{entry}");
    }
    assert!(c.get("privileged").is_none(), "{c:#}");
    assert!(c.get("x").is_none(), "{c:#}");
    assert!(td.get("privileged").is_none() && td.get("x").is_none());

    // The value is in `environment`: it is a secret in every form it could be printed in.
    let text = out.all_text();
    let escaped = serde_json::to_string(hostile).unwrap();
    let escaped = &escaped[1..escaped.len() - 1];
    for form in [hostile, escaped, "quote\" back\\slash", "next line\","] {
        assert!(!text.contains(form), "{form:?} was printed:\n{text}");
    }
    assert!(!text.contains("privileged"), "{text}");
}

#[test]
fn yaml_task_definition_deploys_like_json() {
    let (moto, s) = start();
    let yaml_file = "aws/task-definition.yaml";
    let out = dataspace(&moto, &s)
        .file(yaml_file, APP_YAML)
        .input("task-definition", yaml_file)
        .run();
    out.assert_code(0);
    let (arn, td) = live_task_definition(&moto, &s, &s.app_service);
    assert_eq!(arn, revision("dataspace-app", 2));
    let c = container(&td, APP_CONTAINER);
    assert_eq!(c["image"], json!(tagged("dataspace", TAG)));
    assert_eq!(c["portMappings"][0]["containerPort"], 8000);
    assert_eq!(env_value(c, "PORT"), Some(&json!("8000")));
    assert_eq!(out.output("result"), "deployed");

    // The JSON file renders to the same task definition: nothing to do.
    let before = moto.snapshot(&s.cluster);
    let again = dataspace(&moto, &s).run();
    again.assert_code(0);
    assert_eq!(again.output("result"), "unchanged", "{}", again.all_text());
    assert_eq!(before, moto.snapshot(&s.cluster));
}

#[test]
fn services_input_deploys_a_third_service() {
    let (moto, s) = start();
    let worker_td = json!({
        "family": "dataspace-worker",
        "requiresCompatibilities": ["FARGATE"],
        "networkMode": "awsvpc",
        "cpu": "256",
        "memory": "512",
        "containerDefinitions": [{
            "name": "worker",
            "image": tagged("dataspace", "v1"),
            "command": ["celery", "-A", "dataspace", "worker"],
        }],
    });
    let worker1 = seed::register(&moto, &worker_td);
    moto.ecs(
        "CreateService",
        json!({
            "cluster": s.cluster,
            "serviceName": "dataspace-worker",
            "taskDefinition": worker1,
            "desiredCount": 1,
            "launchType": "FARGATE",
            "networkConfiguration": { "awsvpcConfiguration": {
                "subnets": [s.subnet_id],
                "securityGroups": [s.security_group_id],
            }},
        }),
    );
    let mut worker_file = worker_td.clone();
    worker_file["containerDefinitions"][0]["image"] =
        json!("${ECR_REGISTRY}/dataspace:${IMAGE_TAG}");

    let out = dataspace(&moto, &s)
        .file(
            "aws/worker.json",
            &serde_json::to_string_pretty(&worker_file).unwrap(),
        )
        .input(
            "services",
            "# background jobs\ndataspace-worker = aws/worker.json\n",
        )
        .run();
    out.assert_code(0);

    let worker2 = revision("dataspace-worker", 2);
    let (arn, td) = live_task_definition(&moto, &s, "dataspace-worker");
    assert_eq!(arn, worker2);
    assert_eq!(
        container(&td, "worker")["image"],
        json!(tagged("dataspace", TAG))
    );
    assert_eq!(
        live_task_definition(&moto, &s, &s.app_service).0,
        revision("dataspace-app", 2)
    );
    assert_eq!(
        live_task_definition(&moto, &s, &s.otel_service).0,
        revision("dataspace-otel", 2)
    );
    assert_eq!(
        out.output_json("task-definition-arns"),
        json!({
            "dataspace-app": revision("dataspace-app", 2),
            "dataspace-otel": revision("dataspace-otel", 2),
            "dataspace-worker": worker2,
        })
    );
    let mut changed: Vec<String> =
        serde_json::from_value(out.output_json("changed-services")).unwrap();
    changed.sort();
    assert_eq!(
        changed,
        ["dataspace-app", "dataspace-otel", "dataspace-worker"]
    );
    assert!(
        out.summary.contains("| `dataspace-worker` |"),
        "{}",
        out.summary
    );
}

#[test]
fn images_input_overrides_a_container_image() {
    let (moto, s) = start();
    push_image(&moto, seed::APP_REPO, "hotfix-1");
    let out = dataspace(&moto, &s)
        .input(
            "images",
            &format!("{APP_CONTAINER}={}", tagged("dataspace", "hotfix-1")),
        )
        .run();
    out.assert_code(0);
    let (_, app) = live_task_definition(&moto, &s, &s.app_service);
    assert_eq!(
        container(&app, APP_CONTAINER)["image"],
        json!(tagged("dataspace", "hotfix-1"))
    );
    let (_, otel) = live_task_definition(&moto, &s, &s.otel_service);
    assert_eq!(
        container(&otel, OTEL_CONTAINER)["image"],
        json!(tagged("otel-collector", TAG)),
        "only the named container is overridden"
    );
}

#[test]
fn plan_changes_nothing_and_prints_the_diff() {
    let (moto, s) = start();
    let before = moto.snapshot(&s.cluster);
    let out = dataspace(&moto, &s).input("mode", "plan").run();
    out.assert_code(0);
    assert_eq!(before, moto.snapshot(&s.cluster), "{}", out.all_text());
    assert_eq!(out.output("result"), "planned");
    assert_eq!(out.output_json("changed-services"), json!([]));
    let image_line = out
        .stdout
        .lines()
        .find(|l| l.starts_with('+') && l.contains("\"image\""))
        .unwrap_or_else(|| panic!("no added image line in the diff:\n{}", out.stdout));
    assert!(
        image_line.contains(&tagged("dataspace", TAG))
            || image_line.contains(&tagged("otel-collector", TAG)),
        "{image_line}"
    );
    assert!(
        out.stdout
            .lines()
            .any(|l| l.starts_with('-') && l.contains(&s.app_image())),
        "the live image is the removed line:\n{}",
        out.stdout
    );
}

#[test]
fn desired_count_is_sent_only_when_given() {
    let (moto, s) = start();
    let run = dataspace(&moto, &s);
    run.run().assert_code(0);
    for name in s.services() {
        assert_eq!(moto.service(&s.cluster, &name)["desiredCount"], 1);
    }

    let deployments_before: Vec<String> = s
        .services()
        .iter()
        .map(|name| primary_id(&moto, &s, name))
        .collect();
    let out = dataspace(&moto, &s).input("desired-count", "2").run();
    out.assert_code(0);
    for (name, before) in s.services().iter().zip(&deployments_before) {
        let svc = moto.service(&s.cluster, name);
        assert_eq!(svc["desiredCount"], 2, "{name}: {}", out.all_text());
        // A scaling change, not a redeploy: no forced new deployment replaces the tasks.
        assert_eq!(&primary_id(&moto, &s, name), before, "{name}");
    }
    assert_eq!(out.output("result"), "deployed");
    // Same files: the count changed, the revisions did not.
    assert_eq!(
        out.output("task-definition-arn"),
        revision("dataspace-app", 2)
    );

    // Someone (auto-scaling) sets 5; a deploy of a new image without desired-count keeps it.
    moto.ecs(
        "UpdateService",
        json!({ "cluster": s.cluster, "service": s.app_service, "desiredCount": 5 }),
    );
    push_image(&moto, seed::APP_REPO, "next");
    push_image(&moto, seed::OTEL_REPO, "next");
    let out = run.env("IMAGE_TAG", "next").run();
    out.assert_code(0);
    let app = moto.service(&s.cluster, &s.app_service);
    assert_eq!(app["desiredCount"], 5, "{}", out.all_text());
    assert_eq!(app["taskDefinition"], json!(revision("dataspace-app", 3)));
}

/// Issue 18: a desired count outside a service's auto-scaling bounds would be scaled back by
/// Application Auto Scaling: exit 2 naming the bounds, and nothing changes; inside them it
/// deploys.
#[test]
fn desired_count_outside_the_auto_scaling_bounds_is_refused() {
    let (moto, s) = start();
    dataspace(&moto, &s).run().assert_code(0);
    moto.call_json(
        "application-autoscaling",
        "AnyScaleFrontendService.RegisterScalableTarget",
        json!({
            "ServiceNamespace": "ecs",
            "ResourceId": format!("service/{}/{}", s.cluster, s.app_service),
            "ScalableDimension": "ecs:service:DesiredCount",
            "MinCapacity": 2,
            "MaxCapacity": 4,
        }),
    );
    let before = moto.snapshot(&s.cluster);
    let revisions = moto.task_definition_arns();
    let o = dataspace(&moto, &s).input("desired-count", "10").run();
    o.assert_code(2);
    assert!(
        o.all_text().contains("input desired-count: 10 is above the auto-scaling maximum of service `dataspace-app` (its scalable target allows 2 to 4)"),
        "{}",
        o.all_text()
    );
    assert!(
        !o.all_text().contains("`dataspace-otel`"),
        "the collector has no scalable target: {}",
        o.all_text()
    );
    assert_eq!(moto.snapshot(&s.cluster), before, "nothing changed");
    assert_eq!(moto.task_definition_arns(), revisions, "nothing registered");

    let o = dataspace(&moto, &s).input("desired-count", "3").run();
    o.assert_code(0);
    assert_eq!(moto.service(&s.cluster, &s.app_service)["desiredCount"], 3);
}

#[test]
fn cli_render_needs_no_aws_and_prints_json() {
    let run = Run::new("http://127.0.0.1:9")
        .without_env("GITHUB_ACTIONS")
        .without_env("AWS_ACCESS_KEY_ID")
        .without_env("AWS_SECRET_ACCESS_KEY")
        .env("ECR_REGISTRY", REGISTRY)
        .env("IMAGE_TAG", TAG)
        .env("ENVIRONMENT", "dev")
        .env("ECS_EXECUTION_ROLE_ARN", "arn:aws:iam::1:role/x")
        .file("x.json", OTEL_JSON)
        .arg("render")
        .arg("--task-definition")
        .arg("x.json");
    let out = run.run();
    out.assert_code(0);
    let doc: Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e}):\n{}", out.stdout));
    assert_eq!(doc["family"], "dataspace-otel");
    assert_eq!(
        doc["containerDefinitions"][0]["image"],
        json!(tagged("otel-collector", TAG))
    );
    assert_eq!(
        doc["containerDefinitions"][0]["portMappings"][0]["containerPort"],
        4317
    );
}

#[test]
fn cli_render_accepts_a_byte_order_mark() {
    let out = Run::new("http://127.0.0.1:9")
        .without_env("GITHUB_ACTIONS")
        .env("ECR_REGISTRY", REGISTRY)
        .env("IMAGE_TAG", TAG)
        .env("ENVIRONMENT", "dev")
        .env("ECS_EXECUTION_ROLE_ARN", "arn:aws:iam::1:role/x")
        .file("bom.json", &format!("\u{feff}{OTEL_JSON}"))
        .arg("render")
        .arg("--task-definition")
        .arg("bom.json")
        .run();
    out.assert_code(0);
    let doc: Value = serde_json::from_str(&out.stdout).expect("rendered JSON");
    assert_eq!(doc["family"], "dataspace-otel");
}

#[test]
fn cli_deploy_prints_outputs_as_json() {
    let (moto, s) = start();
    let out = dataspace(&moto, &s)
        .without_env("GITHUB_ACTIONS")
        .arg("deploy")
        .arg("--cluster")
        .arg(&s.cluster)
        .arg("--service")
        .arg(&s.app_service)
        .arg("--task-definition")
        .arg(APP_FILE)
        .arg("--output")
        .arg("json")
        .run();
    out.assert_code(0);
    let doc = last_json_object(&out.stdout);
    assert_eq!(doc["result"], "deployed", "{doc:#}");
    assert_eq!(
        doc["task-definition-arn"],
        json!(revision("dataspace-app", 2))
    );
    assert_eq!(
        doc["task-definition-arns"]["dataspace-app"],
        json!(revision("dataspace-app", 2))
    );
    assert!(doc["changed-services"].is_array(), "{doc:#}");
}

#[test]
fn force_new_deployment_redeploys_an_unchanged_task_definition() {
    let (moto, s) = start();
    let run = dataspace(&moto, &s);
    run.run().assert_code(0);
    let arns = moto.task_definition_arns();
    let ids_before: Vec<String> = s
        .services()
        .iter()
        .map(|n| primary_id(&moto, &s, n))
        .collect();

    let out = run.input("force-new-deployment", "true").run();
    out.assert_code(0);
    assert_eq!(arns, moto.task_definition_arns(), "no new revision");
    for (name, before) in s.services().iter().zip(&ids_before) {
        assert_ne!(
            &primary_id(&moto, &s, name),
            before,
            "{name}: a new deployment\n{}",
            out.all_text()
        );
    }
    assert_eq!(out.output("result"), "deployed");
    assert_eq!(
        out.output("task-definition-arn"),
        revision("dataspace-app", 2)
    );
}
