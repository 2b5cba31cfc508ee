//! Day one and service definitions (issue 12, DESIGN.md section 9): a new environment
//! deployed from an empty account (the stack makes the cluster, the services are created from
//! their definitions), `plan` of it changing nothing, service attributes compared and sent in
//! the one UpdateService, identical revisions reused, a stack-only run, the owned-by-a-stack
//! warning, and `rollback` going to the revision the service itself ran before.

use serde_json::{json, Value};

use crate::rollout::{files, setup};
use crate::support::seed::default_network;
use crate::support::seed::{self, APP_REPO, CLUSTER, OTEL_REPO};
use crate::support::standin::ECS_TARGET;
use crate::support::{push_image, Moto, MotoOptions, Plot, Run, StandIn};

const EXAMPLE: &[(&str, &str)] = &[
    (
        "aws/task-definition.json",
        include_str!("../../examples/dataspace/aws/task-definition.json"),
    ),
    (
        "aws/otel-collector-task-definition.json",
        include_str!("../../examples/dataspace/aws/otel-collector-task-definition.json"),
    ),
    (
        "aws/app-service.json",
        include_str!("../../examples/dataspace/aws/app-service.json"),
    ),
    (
        "aws/otel-collector-service.json",
        include_str!("../../examples/dataspace/aws/otel-collector-service.json"),
    ),
    (
        "aws/cloudformation/dataspace-infrastructure.yml",
        include_str!("../../examples/dataspace/aws/cloudformation/dataspace-infrastructure.yml"),
    ),
];

const STACK: &str = "dataspace-dev-infrastructure";

/// An empty account but for what exists before day one: the pushed images and the app's
/// SecureString parameters (CloudFormation cannot make those). Returns the stack parameters
/// for the default VPC's network.
fn empty_account(moto: &Moto) -> String {
    for repo in [APP_REPO, OTEL_REPO] {
        moto.ecr("CreateRepository", json!({ "repositoryName": repo }));
        push_image(moto, repo, "day1");
    }
    for name in ["db/password", "django/secret-key", "elasticsearch/password"] {
        moto.call_json(
            "ssm",
            "AmazonSSM.PutParameter",
            json!({ "Name": format!("/dataspace/dev/{name}"), "Value": "local-value", "Type": "SecureString" }),
        );
    }
    let (subnet, _) = default_network(moto);
    let subnets = moto.query(
        "ec2",
        &[("Action", "DescribeSubnets"), ("Version", "2016-11-15")],
    );
    let other = crate::support::xml_values(&subnets, "subnetId")
        .into_iter()
        .find(|s| *s != subnet)
        .expect("the default VPC has a second subnet");
    let vpcs = moto.query(
        "ec2",
        &[("Action", "DescribeVpcs"), ("Version", "2016-11-15")],
    );
    let vpc = crate::support::xml_values(&vpcs, "vpcId").remove(0);
    format!(
        "Environment=dev\nVpcId={vpc}\nSubnetIds={subnet},{other}\nDBName=dataspace\nDBPassword=correct-horse-battery-staple\nCreateCacheAndSearch=false"
    )
}

/// The example workflow's deploy step, on the local AWS.
fn example(moto: &Moto, parameters: &str) -> Run {
    let mut run = Run::new(&moto.url());
    for (path, text) in EXAMPLE {
        run = run.file(path, text);
    }
    run.input("cluster", CLUSTER)
        .input("service", seed::APP_SERVICE)
        .input("task-definition", "aws/task-definition.json")
        .input("service-definition", "aws/app-service.json")
        .input("otel-service", seed::OTEL_SERVICE)
        .input(
            "otel-task-definition",
            "aws/otel-collector-task-definition.json",
        )
        .input("otel-service-definition", "aws/otel-collector-service.json")
        .input("stack-name", STACK)
        .input(
            "stack-template",
            "aws/cloudformation/dataspace-infrastructure.yml",
        )
        .input("stack-parameters", parameters)
        .input("poll-interval-seconds", "0.2")
        .env(
            "ECR_REGISTRY",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
        )
        .env("ECR_REPOSITORY", APP_REPO)
        .env("IMAGE_TAG", "day1")
        .env("ENVIRONMENT", "dev")
        .env("DB_NAME", "dataspace")
}

fn clusters(moto: &Moto) -> Vec<Value> {
    moto.ecs("ListClusters", json!({}))["clusterArns"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn stacks(moto: &Moto) -> Vec<String> {
    let xml = moto.query(
        "cloudformation",
        &[("Action", "ListStacks"), ("Version", "2010-05-15")],
    );
    crate::support::xml_values(&xml, "StackName")
}

fn env_of(td: &Value, name: &str) -> String {
    td["containerDefinitions"][0]["environment"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|e| e["name"] == name)
        .and_then(|e| e["value"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[test]
fn the_example_deploys_day_one_from_an_empty_account_and_reruns_unchanged() {
    let moto = Moto::start_with(MotoOptions::default().service_running(2));
    let parameters = empty_account(&moto);
    assert!(clusters(&moto).is_empty());
    let first = example(&moto, &parameters).run();
    first.assert_code(0);
    let text = first.all_text();
    assert_eq!(first.output("result"), "deployed", "{text}");
    assert_eq!(first.output("stack-deployed"), "true");
    assert!(
        text.contains("cluster `dataspace-dev` does not exist yet"),
        "{text}"
    );
    // The stack made the cluster; both services were created on their first revisions.
    assert_eq!(clusters(&moto).len(), 1);
    let app = moto.service(CLUSTER, seed::APP_SERVICE);
    let otel = moto.service(CLUSTER, seed::OTEL_SERVICE);
    assert!(
        app["taskDefinition"]
            .as_str()
            .unwrap()
            .ends_with("task-definition/dataspace-app-dev:1"),
        "{app:#}"
    );
    assert_eq!(app["desiredCount"], 2);
    assert_eq!(
        app["capacityProviderStrategy"][0]["capacityProvider"],
        "FARGATE"
    );
    assert_eq!(
        otel["deployments"][0]["serviceConnectConfiguration"]["services"][0]["discoveryName"],
        "otel-collector"
    );
    // The app reads the stack's outputs: its database is the stack's, not localhost.
    let outputs = first.output_json("stack-outputs");
    let db_host = outputs["DBHost"].as_str().unwrap().to_string();
    assert!(db_host.contains(".rds.amazonaws.com"), "{outputs:#}");
    let td = moto.task_definition(app["taskDefinition"].as_str().unwrap());
    assert_eq!(env_of(&td, "DB_HOST"), db_host);
    assert_eq!(
        env_of(&td, "OTEL_EXPORTER_OTLP_ENDPOINT"),
        "http://otel-collector:4317"
    );
    assert_eq!(td["executionRoleArn"], outputs["ExecutionRoleArn"]);
    assert!(first.summary.contains("new service"), "{}", first.summary);

    let before = moto.snapshot(CLUSTER);
    let again = example(&moto, &parameters).run();
    again.assert_code(0);
    assert_eq!(again.output("result"), "unchanged", "{}", again.all_text());
    assert_eq!(moto.snapshot(CLUSTER), before, "the second run changed ECS");
}

#[test]
fn plan_of_day_one_previews_it_and_changes_nothing() {
    let moto = Moto::start_with(MotoOptions::default().service_running(2));
    let parameters = empty_account(&moto);
    let o = example(&moto, &parameters).input("mode", "plan").run();
    o.assert_code(0);
    let text = o.all_text();
    assert_eq!(o.output("result"), "planned", "{text}");
    for (service, def) in [
        ("dataspace-app", "aws/app-service.json"),
        ("dataspace-otel", "aws/otel-collector-service.json"),
    ] {
        assert!(
            text.contains(&format!(
                "{service}: does not exist: would be created from {def}"
            )),
            "{text}"
        );
    }
    assert!(text.contains("Add Cluster AWS::ECS::Cluster"), "{text}");
    assert!(o.summary.contains("would create"), "{}", o.summary);
    assert!(clusters(&moto).is_empty(), "plan created a cluster");
    assert!(moto.task_definition_arns().is_empty(), "plan registered");
    // The preview's REVIEW_IN_PROGRESS stack was deleted again.
    let left = moto.try_query(
        "cloudformation",
        &[
            ("Action", "DescribeStacks"),
            ("Version", "2010-05-15"),
            ("StackName", STACK),
        ],
    );
    assert!(
        left.as_ref()
            .map_or(true, |x| x.contains("DELETE_COMPLETE")),
        "{left:?}"
    );
}

#[test]
fn a_new_service_without_a_definition_is_named_before_anything_changes() {
    let moto = Moto::start_with(MotoOptions::default().service_running(2));
    let parameters = empty_account(&moto);
    let o = example(&moto, &parameters)
        .input("otel-service-definition", "")
        .run();
    o.assert_code(2);
    let text = o.all_text();
    assert!(
        text.contains("service `dataspace-otel` does not exist yet")
            && text.contains("(otel-service-definition)"),
        "{text}"
    );
    assert!(clusters(&moto).is_empty());
    assert!(stacks(&moto).is_empty(), "the stack was touched: {text}");
    assert!(moto.task_definition_arns().is_empty());
}

#[test]
fn a_stack_alone_is_a_deploy() {
    let moto = Moto::start_with(MotoOptions::default().service_running(2));
    let parameters = empty_account(&moto);
    let mut run = Run::new(&moto.url());
    for (path, text) in EXAMPLE {
        run = run.file(path, text);
    }
    let o = run
        .input("stack-name", STACK)
        .input(
            "stack-template",
            "aws/cloudformation/dataspace-infrastructure.yml",
        )
        .input("stack-parameters", &parameters)
        .input("poll-interval-seconds", "0.2")
        .run();
    o.assert_code(0);
    assert_eq!(o.output("result"), "deployed", "{}", o.all_text());
    assert_eq!(o.output("stack-deployed"), "true");
    assert_eq!(clusters(&moto).len(), 1, "the stack made its cluster");
}

/// The UpdateService requests the binary sent for `service`, as sent.
fn updates_sent(ecs: &StandIn, service: &str) -> Vec<Value> {
    ecs.requests()
        .iter()
        .filter(|r| r.header("X-Amz-Target") == Some(&format!("{ECS_TARGET}.UpdateService")))
        .map(|r| r.json())
        .filter(|b| b["service"] == service)
        .collect()
}

#[test]
fn a_capacity_provider_strategy_change_is_one_update_with_a_new_deployment() {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    let s = setup(&moto);
    let ecs = StandIn::builder(&moto, &s)
        .service(&s.app_service, Plot::Complete(1.0))
        .start();
    let def = json!({
        "capacityProviderStrategy": [{ "capacityProvider": "FARGATE_SPOT", "weight": 1 }],
        "healthCheckGracePeriodSeconds": 60,
        "desiredCount": 9,
    });
    let o = files(Run::new(&ecs.url()), &s)
        .input("otel-service", "")
        .input("otel-task-definition", "")
        .input("service-definition", "aws/app-service.json")
        .file("aws/app-service.json", &def.to_string())
        .run();
    o.assert_code(0);
    let text = o.all_text();
    assert!(
        text.contains("service capacityProviderStrategy: (not set) →"),
        "{text}"
    );
    let sent = updates_sent(&ecs, &s.app_service);
    assert_eq!(sent.len(), 1, "one UpdateService: {sent:#?}");
    assert_eq!(sent[0]["forceNewDeployment"], true);
    assert_eq!(
        sent[0]["capacityProviderStrategy"][0]["capacityProvider"],
        "FARGATE_SPOT"
    );
    assert_eq!(sent[0]["healthCheckGracePeriodSeconds"], 60);
    // desiredCount is for creation only: auto-scaling owns it afterwards.
    assert!(sent[0].get("desiredCount").is_none(), "{:#}", sent[0]);
    let live = moto.service(CLUSTER, &s.app_service);
    assert_eq!(
        live["capacityProviderStrategy"][0]["capacityProvider"],
        "FARGATE_SPOT"
    );
    assert_eq!(live["desiredCount"], 1);
    assert!(o.summary.contains("service attributes"), "{}", o.summary);

    // The same definition again: nothing to change.
    let again = files(Run::new(&moto.url()), &s)
        .input("otel-service", "")
        .input("otel-task-definition", "")
        .input("service-definition", "aws/app-service.json")
        .file("aws/app-service.json", &def.to_string())
        .run();
    again.assert_code(0);
    assert_eq!(again.output("result"), "unchanged", "{}", again.all_text());
}

#[test]
fn a_field_update_service_cannot_change_is_refused_and_nothing_changes() {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    let s = setup(&moto);
    let before = moto.snapshot(CLUSTER);
    let o = files(Run::new(&moto.url()), &s)
        .input("service-definition", "aws/app-service.json")
        .file("aws/app-service.json", "{\n  \"launchType\": \"EC2\"\n}\n")
        .run();
    o.assert_code(2);
    let text = o.all_text();
    assert!(
        text.contains("aws/app-service.json: field `launchType` is EC2 in the definition but FARGATE on service `dataspace-app`, and UpdateService cannot change it")
            && text.contains("recreate the service"),
        "{text}"
    );
    assert!(text.contains("file=aws/app-service.json,line=2"), "{text}");
    assert_eq!(moto.snapshot(CLUSTER), before);
}

#[test]
fn a_bridge_mode_task_with_a_network_configuration_creates_nothing() {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    let s = setup(&moto);
    let mut bridge = seed::app_task_definition(&s.app_repo_uri);
    bridge["networkMode"] = json!("bridge");
    bridge["family"] = json!("dataspace-worker");
    bridge["requiresCompatibilities"] = json!(["EC2"]);
    let def = json!({
        "launchType": "EC2",
        "networkConfiguration": { "awsvpcConfiguration": { "subnets": [s.subnet_id] } },
    });
    let before = moto.snapshot(CLUSTER);
    let o = Run::new(&moto.url())
        .input("cluster", CLUSTER)
        .input("services", "dataspace-worker=aws/worker.json")
        .input(
            "service-definitions",
            "dataspace-worker=aws/worker-service.json",
        )
        .file("aws/worker.json", &bridge.to_string())
        .file(
            "aws/worker-service.json",
            &serde_json::to_string_pretty(&def).unwrap(),
        )
        .run();
    o.assert_code(2);
    let text = o.all_text();
    assert!(
        text.contains("field `networkConfiguration` is for the awsvpc network mode only, and the task definition uses `bridge`"),
        "{text}"
    );
    assert_eq!(moto.snapshot(CLUSTER), before, "a service was created");
}

#[test]
fn a_previous_document_deployed_again_reuses_its_revision() {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    let s = setup(&moto);
    push_image(&moto, APP_REPO, "v3");
    let deploy = |tag: &str| {
        let mut app = seed::app_task_definition(&s.app_repo_uri);
        app["containerDefinitions"][0]["image"] = json!(format!("{}:{tag}", s.app_repo_uri));
        Run::new(&moto.url())
            .input("cluster", CLUSTER)
            .input("service", &s.app_service)
            .input("task-definition", "aws/app.json")
            .input("poll-interval-seconds", "0.2")
            .file("aws/app.json", &app.to_string())
            .run()
    };
    let v2 = deploy("v2");
    v2.assert_code(0);
    let v3 = deploy("v3");
    v3.assert_code(0);
    let revisions = moto.task_definition_arns();
    // Back to v2 (a revert): the revision registered for it is deployed again.
    let back = deploy("v2");
    back.assert_code(0);
    assert_eq!(
        moto.task_definition_arns(),
        revisions,
        "a duplicate was registered"
    );
    assert_eq!(
        moto.service(CLUSTER, &s.app_service)["taskDefinition"],
        json!(v2.output("task-definition-arn"))
    );
    assert!(
        back.all_text()
            .contains("identical to the registered revision dataspace-app:2"),
        "{}",
        back.all_text()
    );
}

#[test]
fn a_service_a_stack_created_is_named_with_its_stack() {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    let s = setup(&moto);
    let mut body = s.service_body(CLUSTER, "dataspace-worker", &s.app_task_definition_arn);
    body["tags"] =
        json!([{ "key": "aws:cloudformation:stack-name", "value": "dataspace-services" }]);
    moto.ecs("CreateService", body);
    let o = files(Run::new(&moto.url()), &s)
        .input("otel-service", "")
        .input("otel-task-definition", "")
        .input("services", "dataspace-worker=aws/app.json")
        .run();
    o.assert_code(0);
    assert!(
        o.all_text().contains(
            "service dataspace-worker was created by CloudFormation stack `dataspace-services`"
        ),
        "{}",
        o.all_text()
    );
}

fn register_image(moto: &Moto, repo_uri: &str, tag: &str) -> String {
    let mut td = seed::app_task_definition(repo_uri);
    td["containerDefinitions"][0]["image"] = json!(format!("{repo_uri}:{tag}"));
    seed::register(moto, &td)
}

#[test]
fn rollback_goes_to_the_revision_the_service_ran_before_not_the_familys() {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    let s = setup(&moto);
    // prod and staging share the family: 1 prod, 2 staging, 3 prod (now), 4 staging.
    let staging = register_image(&moto, &s.app_repo_uri, "staging");
    let now = register_image(&moto, &s.app_repo_uri, "v2");
    register_image(&moto, &s.app_repo_uri, "staging-2");
    moto.ecs(
        "UpdateService",
        json!({ "cluster": CLUSTER, "service": s.app_service, "taskDefinition": now }),
    );
    let ecs = StandIn::builder(&moto, &s)
        .service(&s.app_service, Plot::Complete(1.0))
        .history(&s.app_service, &[&s.app_task_definition_arn, &now])
        .start();
    let o = Run::new(&ecs.url())
        .input("cluster", CLUSTER)
        .input("service", &s.app_service)
        .input("mode", "rollback")
        .input("poll-interval-seconds", "0.2")
        .run();
    o.assert_code(0);
    assert_eq!(o.output("result"), "rolled-back", "{}", o.all_text());
    assert_eq!(
        moto.service(CLUSTER, &s.app_service)["taskDefinition"],
        json!(s.app_task_definition_arn),
        "not staging's {staging}"
    );
    assert!(!o
        .all_text()
        .contains("previous ACTIVE revision of its family"));
}

#[test]
fn rollback_without_a_record_of_the_service_falls_back_to_the_family_and_says_so() {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    let s = setup(&moto);
    let staging = register_image(&moto, &s.app_repo_uri, "staging");
    let now = register_image(&moto, &s.app_repo_uri, "v2");
    moto.ecs(
        "UpdateService",
        json!({ "cluster": CLUSTER, "service": s.app_service, "taskDefinition": now }),
    );
    // moto has no ListServiceDeployments: ECS has no record to read.
    let o = Run::new(&moto.url())
        .input("cluster", CLUSTER)
        .input("service", &s.app_service)
        .input("mode", "rollback")
        .input("poll-interval-seconds", "0.2")
        .run();
    o.assert_code(0);
    assert!(
        o.all_text()
            .contains("going back to the previous ACTIVE revision of its family, which may be another environment's"),
        "{}",
        o.all_text()
    );
    assert_eq!(
        moto.service(CLUSTER, &s.app_service)["taskDefinition"],
        json!(staging)
    );
}

#[test]
fn a_service_created_in_a_failed_run_is_scaled_to_zero() {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    let s = setup(&moto);
    let worker = "dataspace-worker";
    let ecs = StandIn::builder(&moto, &s)
        .service(worker, Plot::PullFails(crate::support::Schedule::at([1.0])))
        .start();
    let def = json!({
        "launchType": "FARGATE",
        "desiredCount": 2,
        "networkConfiguration": { "awsvpcConfiguration": { "subnets": [s.subnet_id], "securityGroups": [s.security_group_id] } },
    });
    let o = files(Run::new(&ecs.url()), &s)
        .input("service", "")
        .input("task-definition", "")
        .input("otel-service", "")
        .input("otel-task-definition", "")
        .input("services", &format!("{worker}=aws/app.json"))
        .input(
            "service-definitions",
            &format!("{worker}=aws/worker-service.json"),
        )
        .file("aws/worker-service.json", &def.to_string())
        .run();
    o.assert_code(1);
    let text = o.all_text();
    assert!(
        text.contains("created in this run, so there is no earlier revision to go back to: scaling it to 0 tasks"),
        "{text}"
    );
    let live = moto.service(CLUSTER, worker);
    assert_eq!(live["desiredCount"], 0, "{live:#}");
    let created: Vec<Value> = ecs
        .requests()
        .iter()
        .filter(|r| r.header("X-Amz-Target") == Some(&format!("{ECS_TARGET}.CreateService")))
        .map(|r| r.json())
        .collect();
    assert_eq!(created.len(), 1);
    let token = created[0]["clientToken"].as_str().unwrap_or_default();
    assert_eq!(token.len(), 32, "{:#}", created[0]);
    assert_eq!(created[0]["desiredCount"], 2);
}
