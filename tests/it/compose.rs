//! Compose files (issue 16, DESIGN.md section 13): the seed-003-shaped example deploys every
//! compose service as its own task definition and ECS service (created from its x-ecs
//! service definition), and its rerun is `unchanged`; a sidecar pair shares one task;
//! `render` prints documents that RegisterTaskDefinition takes as they are.

use serde_json::{json, Value};

use crate::support::moto::{ACCOUNT_ID, REGION};
use crate::support::seed::{default_network, push_image, repo_uri};
use crate::support::{Moto, MotoOptions, Run};

const COMPOSE: &str = include_str!("../../examples/utopia/docker-compose.yaml");
const CLUSTER: &str = "ss-utopia";
const SERVICES: [&str; 4] = ["orchestrator", "users", "flights", "bookings"];
const ECS_TASKS_TRUST: &str = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"ecs-tasks.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;

/// What the example's stack and the team make before the deploy: the cluster, the images,
/// the roles, the log group and the SSM parameters. Returns the example's variables, which
/// the stack's outputs would give (here set in the job's env).
fn utopia(moto: &Moto) -> Vec<(String, String)> {
    moto.ecs("CreateCluster", json!({ "clusterName": CLUSTER }));
    for s in SERVICES {
        let repo = format!("utopia-{s}");
        moto.ecr("CreateRepository", json!({ "repositoryName": repo }));
        push_image(moto, &repo, "v1");
    }
    for role in ["utopia-execution", "utopia-task"] {
        moto.query(
            "iam",
            &[
                ("Action", "CreateRole"),
                ("Version", "2010-05-08"),
                ("RoleName", role),
                ("AssumeRolePolicyDocument", ECS_TASKS_TRUST),
            ],
        );
    }
    moto.call_json(
        "logs",
        "Logs_20140328.CreateLogGroup",
        json!({ "logGroupName": "/ecs/ss-utopia" }),
    );
    for name in ["db/username", "db/password", "jwt-secret"] {
        moto.call_json(
            "ssm",
            "AmazonSSM.PutParameter",
            json!({ "Name": format!("/utopia/{name}"), "Value": "canary-utopia-secret", "Type": "SecureString" }),
        );
    }
    let (subnet, group) = default_network(moto);
    let subnets = moto.query(
        "ec2",
        &[("Action", "DescribeSubnets"), ("Version", "2016-11-15")],
    );
    let other = crate::support::xml_values(&subnets, "subnetId")
        .into_iter()
        .find(|s| *s != subnet)
        .expect("the default VPC has a second subnet");
    let role = |n: &str| format!("arn:aws:iam::{ACCOUNT_ID}:role/{n}");
    [
        ("ECR_REGISTRY", format!("{ACCOUNT_ID}.dkr.ecr.{REGION}.amazonaws.com")),
        ("IMAGE_TAG", "v1".into()),
        ("AWS_ACCOUNT_ID", ACCOUNT_ID.into()),
        ("STACK_ExecutionRoleArn", role("utopia-execution")),
        ("STACK_TaskRoleArn", role("utopia-task")),
        ("STACK_LogGroup", "/ecs/ss-utopia".into()),
        ("STACK_SubnetA", subnet.clone()),
        ("STACK_SubnetB", other),
        ("STACK_ServiceSecurityGroup", group),
        (
            "STACK_OrchestratorTargetGroupArn",
            format!("arn:aws:elasticloadbalancing:{REGION}:{ACCOUNT_ID}:targetgroup/orchestrator/0123456789abcdef"),
        ),
        ("STACK_DatabaseEndpoint", "utopia.cluster-x.us-east-1.rds.amazonaws.com".into()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect()
}

fn example(moto: &Moto, vars: &[(String, String)]) -> Run {
    let mut run = Run::new(&moto.url())
        .file("docker-compose.yaml", COMPOSE)
        .input("cluster", CLUSTER)
        .input("compose-file", "docker-compose.yaml")
        .input("poll-interval-seconds", "0.2");
    for (k, v) in vars {
        run = run.env(k, v);
    }
    run
}

fn live_task_definition(moto: &Moto, service: &str) -> Value {
    let s = moto.service(CLUSTER, service);
    moto.task_definition(s["taskDefinition"].as_str().unwrap())
}

#[test]
fn the_seed_003_example_deploys_each_service_and_reruns_unchanged() {
    let moto = Moto::start_with(MotoOptions::default().service_running(2));
    let vars = utopia(&moto);
    let o = example(&moto, &vars).run();
    o.assert_code(0);
    assert_eq!(o.output("result"), "deployed", "{}", o.all_text());
    let arns = o.output_json("task-definition-arns");
    for s in SERVICES {
        assert!(
            arns[s]
                .as_str()
                .is_some_and(|a| a.contains(&format!("task-definition/ss-utopia-{s}:1"))),
            "{arns}"
        );
        let service = moto.service(CLUSTER, s);
        assert_eq!(service["status"], json!("ACTIVE"), "{s} was created");
    }
    // Created from the x-ecs definitions; deploy.replicas is the desired count at creation.
    let orchestrator = moto.service(CLUSTER, "orchestrator");
    assert_eq!(orchestrator["desiredCount"], json!(2));
    assert_eq!(
        orchestrator["loadBalancers"][0]["containerPort"],
        json!(8080)
    );
    assert_eq!(moto.service(CLUSTER, "users")["desiredCount"], json!(1));

    let td = live_task_definition(&moto, "orchestrator");
    assert_eq!(td["networkMode"], json!("awsvpc"));
    assert_eq!(td["requiresCompatibilities"], json!(["FARGATE"]));
    // 0.5 vCPU and 1 GiB of limits: Fargate's 512/1024.
    assert_eq!(
        (td["cpu"].clone(), td["memory"].clone()),
        (json!("512"), json!("1024"))
    );
    let c = &td["containerDefinitions"][0];
    assert_eq!(
        c["image"],
        json!(format!("{}:v1", repo_uri("utopia-orchestrator")))
    );
    assert_eq!(c["portMappings"][0]["containerPort"], json!(8080));
    assert_eq!(c["healthCheck"]["startPeriod"], json!(60));
    assert_eq!(c["secrets"][0]["name"], json!("JWT_SECRET"));
    assert_eq!(
        c["logConfiguration"]["options"]["awslogs-group"],
        json!("/ecs/ss-utopia")
    );
    let users = live_task_definition(&moto, "users");
    let health = users["containerDefinitions"][0]["healthCheck"]["command"].clone();
    assert_eq!(
        health[1],
        json!("curl -fs http://localhost:${PORT:-8081}/actuator/health || exit 1"),
        "$$ is a literal $"
    );
    // depends_on between separate tasks orders nothing, and says so.
    assert!(
        o.all_text()
            .contains("depends_on `flights` is another task"),
        "{}",
        o.all_text()
    );
    assert!(!o.all_text().contains("canary-utopia-secret"));

    let again = example(&moto, &vars).run();
    again.assert_code(0);
    assert_eq!(again.output("result"), "unchanged", "{}", again.all_text());
    assert_eq!(
        moto.task_definition_arns().len(),
        4,
        "the rerun registered nothing"
    );
}

const SIDECAR: &str = r#"
name: shop
x-ecs:
  execution_role: arn:aws:iam::123456789012:role/utopia-execution
services:
  app:
    image: ${ECR_REGISTRY}/utopia-orchestrator:v1
    ports: ["8080"]
    depends_on:
      log_router:
        condition: service_healthy
    x-ecs:
      service: shop-app
      service_definition:
        launchType: FARGATE
        networkConfiguration:
          awsvpcConfiguration:
            subnets: ["${SUBNET}"]
            securityGroups: ["${SECURITY_GROUP}"]
  log_router:
    image: ${ECR_REGISTRY}/utopia-users:v1
    healthcheck:
      test: ["CMD", "true"]
    x-ecs:
      task: app
      essential: false
"#;

#[test]
fn a_sidecar_pair_deploys_in_one_task() {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    let vars = utopia(&moto);
    let (subnet, group) = default_network(&moto);
    let mut run = Run::new(&moto.url())
        .file("docker-compose.yaml", SIDECAR)
        .input("cluster", CLUSTER)
        .input("compose-file", "docker-compose.yaml")
        .input("poll-interval-seconds", "0.2")
        .env("SUBNET", &subnet)
        .env("SECURITY_GROUP", &group);
    for (k, v) in &vars {
        run = run.env(k, v);
    }
    let o = run.run();
    o.assert_code(0);
    assert_eq!(o.output("result"), "deployed", "{}", o.all_text());
    assert_eq!(
        moto.task_definition_arns().len(),
        1,
        "one task for the pair"
    );
    let td = live_task_definition(&moto, "shop-app");
    assert_eq!(td["family"], json!("shop-app"));
    let names: Vec<&str> = td["containerDefinitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, vec!["app", "log_router"]);
    assert_eq!(
        td["containerDefinitions"][0]["dependsOn"],
        json!([{"containerName": "log_router", "condition": "HEALTHY"}])
    );
    assert_eq!(td["containerDefinitions"][1]["essential"], json!(false));
}

#[test]
fn render_prints_task_definitions_register_takes_as_they_are() {
    let moto = Moto::start();
    let mut run = Run::new(&moto.url())
        .file("docker-compose.yaml", COMPOSE)
        .arg("render")
        .arg("--compose-file")
        .arg("docker-compose.yaml");
    for (k, v) in [
        (
            "ECR_REGISTRY",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
        ),
        ("IMAGE_TAG", "v1"),
        ("AWS_ACCOUNT_ID", ACCOUNT_ID),
        (
            "STACK_ExecutionRoleArn",
            "arn:aws:iam::123456789012:role/utopia-execution",
        ),
        (
            "STACK_TaskRoleArn",
            "arn:aws:iam::123456789012:role/utopia-task",
        ),
        ("STACK_LogGroup", "/ecs/ss-utopia"),
        ("STACK_SubnetA", "subnet-1"),
        ("STACK_SubnetB", "subnet-2"),
        ("STACK_ServiceSecurityGroup", "sg-1"),
        (
            "STACK_OrchestratorTargetGroupArn",
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/o/1",
        ),
        ("STACK_DatabaseEndpoint", "db.internal"),
    ] {
        run = run.env(k, v);
    }
    let o = run.without_env("GITHUB_ACTIONS").run();
    o.assert_code(0);
    let docs: Vec<Value> = o
        .stdout
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}\n{}", o.all_text())))
        .collect();
    assert_eq!(docs.len(), 4, "one document per task:\n{}", o.stdout);
    for doc in docs {
        let family = doc["family"].as_str().unwrap().to_string();
        let answer = moto.ecs("RegisterTaskDefinition", doc);
        assert_eq!(answer["taskDefinition"]["family"], json!(family));
    }
    assert_eq!(moto.task_definition_arns().len(), 4);
}

#[test]
fn plan_of_the_example_changes_nothing() {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    let vars = utopia(&moto);
    let before = moto.snapshot(CLUSTER);
    let o = example(&moto, &vars).input("mode", "plan").run();
    o.assert_code(0);
    assert_eq!(o.output("result"), "planned", "{}", o.all_text());
    assert!(
        o.all_text().contains("created from docker-compose.yaml"),
        "{}",
        o.all_text()
    );
    assert_eq!(before, moto.snapshot(CLUSTER), "plan changed AWS");
    assert!(moto.task_definition_arns().is_empty());
}

/// A subset deployed needs only its own variables: a `${VAR:?message}` in a service that is
/// not deployed does not stop the run; deployed, it does, with its message.
#[test]
fn a_required_variable_of_a_service_not_deployed_does_not_block_the_others() {
    let moto = Moto::start();
    let file = "services:\n  web:\n    image: nginx:1\n  worker:\n    image: ${WORKER_IMAGE:?build the worker first}\n";
    let render = |services: &str| {
        Run::new(&moto.url())
            .file("docker-compose.yaml", file)
            .arg("render")
            .arg("--compose-file")
            .arg("docker-compose.yaml")
            .arg("--compose-services")
            .arg(services)
            .without_env("GITHUB_ACTIONS")
            .run()
    };
    let o = render("web");
    o.assert_code(0);
    assert!(
        o.stdout.contains("\"image\": \"nginx:1\""),
        "{}",
        o.all_text()
    );
    assert!(!o.stdout.contains("worker"), "{}", o.all_text());
    let o = render("worker");
    o.assert_code(2);
    assert!(
        o.stderr.contains("docker-compose.yaml (line 5): service `worker`: variable WORKER_IMAGE is not set, and the file requires it: build the worker first"),
        "{}",
        o.all_text()
    );
    assert!(moto.task_definition_arns().is_empty(), "nothing registered");
}

/// An env file's values are interpolated with the compose file's strict rules: an unset
/// variable and a credential's name stop the run (exit 2) naming the file and its line, and
/// nothing is registered.
#[test]
fn env_file_values_are_interpolated_strictly() {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    moto.ecs("CreateCluster", json!({ "clusterName": CLUSTER }));
    let o = Run::new(&moto.url())
        .file(
            "docker-compose.yaml",
            "services:\n  web:\n    image: nginx:1\n    env_file: app.env\n",
        )
        .file(
            "app.env",
            "DB_HOST=${COMPOSE_ENV_DB_HOST}\nTOKEN=${GITHUB_TOKEN}\nREGION=${AWS_REGION}\n",
        )
        .input("cluster", CLUSTER)
        .input("compose-file", "docker-compose.yaml")
        .run();
    o.assert_code(2);
    for want in [
        "docker-compose.yaml (line 4): service `web`, key `env_file.0`: env_file `app.env`, line 1: variable COMPOSE_ENV_DB_HOST is not set",
        "env_file `app.env`, line 2: variable GITHUB_TOKEN carries the runner's or AWS's credentials and is never substituted",
    ] {
        assert!(
            format!("{}{}", o.stdout, o.stderr).contains(want),
            "want {want}\n{}",
            o.all_text()
        );
    }
    assert!(
        !o.all_text().contains("env_file `app.env`, line 3"),
        "AWS_REGION is set: {}",
        o.all_text()
    );
    assert!(moto.task_definition_arns().is_empty(), "nothing registered");
}

const SECRETS: &str = r#"
name: vault
x-ecs:
  execution_role: ${STACK_ExecutionRoleArn}
secrets:
  db_password:
    x-ecs: {value_from: "arn:aws:ssm:us-east-1:123456789012:parameter/utopia/db/password"}
services:
  api:
    image: ${ECR_REGISTRY}/utopia-users:v1
    environment:
      DB_PASSWORD: ${COMPOSE_DB_PASSWORD}
      SESSION_KEY: prefix-${COMPOSE_SESSION}
    env_file: api.env
    secrets:
      - source: db_password
        target: DB_PASSWORD_FROM_SSM
    logging:
      driver: splunk
      options:
        splunk-url: https://splunk.example.com:8088
        splunk-token: ${COMPOSE_SPLUNK_TOKEN}
    x-ecs:
      service_definition:
        launchType: FARGATE
        networkConfiguration:
          awsvpcConfiguration:
            subnets: ["${SUBNET}"]
            securityGroups: ["${SECURITY_GROUP}"]
"#;

/// The values of secrets reach ECS and never the logs: substituted into `environment` (the
/// compose file and its env file) or a log driver's token, or read from SSM. None appears in
/// stdout, stderr, GITHUB_OUTPUT, GITHUB_ENV or GITHUB_STEP_SUMMARY of a deploy, of a plan
/// whose diff changes them, or in render's stderr; render's stdout is the document asked
/// for (DESIGN section 3), and holds no SSM value.
#[test]
fn secret_values_are_printed_nowhere() {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    let vars = utopia(&moto);
    let (subnet, group) = default_network(&moto);
    let canaries = |round: &str| {
        [
            ("COMPOSE_DB_PASSWORD", format!("canary-env-pw-{round}-6613")),
            ("COMPOSE_SESSION", format!("canary-session-{round}-2290")),
            (
                "COMPOSE_API_TOKEN",
                format!("canary-envfile-token-{round}-4471"),
            ),
            (
                "COMPOSE_SPLUNK_TOKEN",
                format!("canary-splunk-{round}-8134"),
            ),
        ]
    };
    let ssm_value = "canary-utopia-secret";
    let step = |round: &str| {
        let mut run = Run::new(&moto.url())
            .file("docker-compose.yaml", SECRETS)
            .file(
                "api.env",
                "API_TOKEN=${COMPOSE_API_TOKEN}\nLOG_LEVEL=info\n",
            )
            .input("cluster", CLUSTER)
            .input("compose-file", "docker-compose.yaml")
            .input("poll-interval-seconds", "0.2")
            .env("SUBNET", &subnet)
            .env("SECURITY_GROUP", &group);
        for (k, v) in &vars {
            run = run.env(k, v);
        }
        for (k, v) in canaries(round) {
            run = run.env(k, &v);
        }
        run
    };
    let never = |o: &crate::support::Outcome, round: &str, what: &str| {
        for (name, value) in canaries(round) {
            for (place, text) in [
                ("stdout", &o.stdout),
                ("stderr", &o.stderr),
                ("GITHUB_STEP_SUMMARY", &o.summary),
                ("GITHUB_OUTPUT, GITHUB_ENV", &o.all_text()),
            ] {
                assert!(
                    !text.contains(&value),
                    "{what}: {name}'s value is in {place}:\n{}",
                    o.all_text()
                );
            }
        }
        assert!(!o.all_text().contains(ssm_value), "{what}: the SSM value");
    };

    let o = step("a").run();
    o.assert_code(0);
    assert_eq!(o.output("result"), "deployed", "{}", o.all_text());
    never(&o, "a", "deploy");
    // They did reach ECS.
    let td = live_task_definition(&moto, "api");
    let c = &td["containerDefinitions"][0];
    let env: Vec<(String, String)> = c["environment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_string(),
                e["value"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    for (name, value) in [
        ("DB_PASSWORD", "canary-env-pw-a-6613"),
        ("SESSION_KEY", "prefix-canary-session-a-2290"),
        ("API_TOKEN", "canary-envfile-token-a-4471"),
    ] {
        assert!(
            env.contains(&(name.to_string(), value.to_string())),
            "{env:?}"
        );
    }
    assert_eq!(
        c["logConfiguration"]["options"]["splunk-token"],
        json!("canary-splunk-a-8134")
    );

    // A plan whose diff changes every one of them shows names, never values (old or new).
    let o = step("b").input("mode", "plan").run();
    o.assert_code(0);
    assert_eq!(o.output("result"), "planned", "{}", o.all_text());
    never(&o, "a", "plan (old values)");
    never(&o, "b", "plan (new values)");

    // render prints the document it is asked for; its stderr (warnings) holds no value.
    let o = step("c")
        .arg("render")
        .arg("--compose-file")
        .arg("docker-compose.yaml")
        .without_env("GITHUB_ACTIONS")
        .run();
    o.assert_code(0);
    assert!(
        o.stdout.contains("canary-env-pw-c-6613"),
        "render prints the document:\n{}",
        o.stdout
    );
    for (name, value) in canaries("c") {
        assert!(
            !o.stderr.contains(&value),
            "render's stderr holds {name}'s value:\n{}",
            o.stderr
        );
    }
    assert!(!o.all_text().contains(ssm_value));
}
