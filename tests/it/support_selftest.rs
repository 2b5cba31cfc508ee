//! Self-tests of the support code: moto starts and answers, the DataSpace seed holds what the
//! other tests assume, the local HTTP server speaks enough HTTP/1.1 for the SDK and octocrab,
//! the runner parses file commands, and the moto rollout behaviour the product's wait logic
//! relies on (DESIGN.md §7) still holds for the pinned version.

use std::io::{Read, Write};
use std::net::TcpStream;

use serde_json::{json, Value};

use crate::support::runner::parse_outputs;
use crate::support::*;

fn primary(service: &Value) -> Value {
    let deployments = service["deployments"].as_array().expect("deployments");
    assert_eq!(
        deployments.len(),
        1,
        "moto keeps exactly one deployment: {service:#}"
    );
    assert_eq!(deployments[0]["status"], "PRIMARY");
    deployments[0].clone()
}

#[test]
fn moto_starts_answers_and_resets() {
    let moto = Moto::start();
    assert_eq!(
        moto.ecs("ListClusters", json!({})),
        json!({ "clusterArns": [] })
    );

    moto.ecs("CreateCluster", json!({ "clusterName": "scratch" }));
    let listed = moto.ecs("ListClusters", json!({}));
    assert_eq!(listed["clusterArns"].as_array().unwrap().len(), 1);

    let (status, body) = moto
        .try_ecs(
            "DescribeServices",
            json!({ "cluster": "nope", "services": ["x"] }),
        )
        .expect_err("an unknown cluster is an error");
    assert_eq!(status, 400);
    assert!(body.contains("ClusterNotFoundException"), "{body}");

    let identity = moto.query(
        "sts",
        &[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")],
    );
    assert_eq!(xml_values(&identity, "Account"), vec!["123456789012"]);

    moto.reset();
    assert_eq!(
        moto.ecs("ListClusters", json!({})),
        json!({ "clusterArns": [] })
    );
}

#[test]
fn seed_creates_the_dataspace_layout() {
    let moto = Moto::start();
    let s = seed_dataspace(&moto);
    assert_eq!(s.cluster, "dataspace-dev");
    assert_eq!(
        s.app_task_definition_arn,
        "arn:aws:ecs:us-east-1:123456789012:task-definition/dataspace-app:1"
    );
    for (name, td) in [
        (&s.app_service, &s.app_task_definition_arn),
        (&s.otel_service, &s.otel_task_definition_arn),
    ] {
        let service = moto.service(&s.cluster, name);
        assert_eq!(&service["taskDefinition"], td, "{service:#}");
        assert_eq!(service["status"], "ACTIVE");
        assert_eq!(service["desiredCount"], 1);
        assert_eq!(service["launchType"], "FARGATE");
        let vpc = &service["networkConfiguration"]["awsvpcConfiguration"];
        assert_eq!(vpc["subnets"], json!([s.subnet_id]));
        assert_eq!(vpc["securityGroups"], json!([s.security_group_id]));
    }
    let td = moto.task_definition(&s.app_task_definition_arn);
    assert_eq!(td["containerDefinitions"][0]["image"], s.app_image());
    assert_eq!(
        s.app_image(),
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/dataspace:v1"
    );
    for repo in ["dataspace", "otel-collector"] {
        let images = moto.ecr(
            "DescribeImages",
            json!({ "repositoryName": repo, "imageIds": [{ "imageTag": "v1" }] }),
        );
        assert_eq!(
            images["imageDetails"][0]["imageTags"],
            json!(["v1"]),
            "{images}"
        );
    }

    let before = moto.snapshot(&s.cluster);
    assert_eq!(before, moto.snapshot(&s.cluster), "snapshot is stable");
    assert_eq!(
        before["taskDefinitionArns"],
        json!([s.app_task_definition_arn, s.otel_task_definition_arn])
    );
    assert_eq!(
        before["services"]["dataspace-otel"]["taskDefinition"],
        json!(s.otel_task_definition_arn)
    );

    // A change anywhere shows up in the snapshot.
    let digest = push_image(&moto, "dataspace", "v2");
    assert!(digest.starts_with("sha256:"), "{digest}");
    assert_eq!(
        before,
        moto.snapshot(&s.cluster),
        "images are not in the snapshot"
    );
    seed::register(&moto, &seed::app_task_definition(&s.app_repo_uri));
    assert_ne!(before, moto.snapshot(&s.cluster));
}

#[test]
fn rollouts_never_progress_without_service_running() {
    let moto = Moto::start();
    let s = seed_dataspace(&moto);
    let service = moto.service(&s.cluster, &s.app_service);
    let d = primary(&service);
    assert_eq!(d["rolloutState"], "IN_PROGRESS");
    assert_eq!(d["runningCount"], 0);
    assert_eq!(service["events"], json!([]));
    // moto 5.2.5 drops it; scripts/moto-launch.py keeps what CreateService is given, as AWS does.
    assert_eq!(
        service["deploymentConfiguration"]["deploymentCircuitBreaker"]["enable"],
        json!(true),
        "{service:#}"
    );
}

/// The facts the product's wait logic is built on (see the support code's report).
#[test]
fn moto_service_running_completes_rollouts_and_keeps_deployment_task_definitions() {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    let s = seed_dataspace(&moto);
    let service = moto.service(&s.cluster, &s.app_service);
    let first = primary(&service);
    assert_eq!(first["rolloutState"], "COMPLETED");
    assert_eq!(first["runningCount"], 1);
    assert_eq!(service["runningCount"], 1);
    assert_eq!(first["taskDefinition"], json!(s.app_task_definition_arn));

    // Without forceNewDeployment: the service names the new revision, the deployment does not
    // change at all (same id, old revision).
    let td2 = seed::register(&moto, &seed::app_task_definition(&s.app_repo_uri));
    moto.ecs(
        "UpdateService",
        json!({ "cluster": s.cluster, "service": s.app_service, "taskDefinition": td2 }),
    );
    let service = moto.service(&s.cluster, &s.app_service);
    assert_eq!(service["taskDefinition"], json!(td2));
    assert_eq!(primary(&service), first);

    // With forceNewDeployment: a new id, still one deployment, still the old revision.
    let td3 = seed::register(&moto, &seed::app_task_definition(&s.app_repo_uri));
    moto.ecs(
        "UpdateService",
        json!({ "cluster": s.cluster, "service": s.app_service,
                "taskDefinition": td3, "forceNewDeployment": true }),
    );
    let service = moto.service(&s.cluster, &s.app_service);
    assert_eq!(service["taskDefinition"], json!(td3));
    let forced = primary(&service);
    assert_ne!(forced["id"], first["id"]);
    assert_eq!(forced["taskDefinition"], json!(s.app_task_definition_arn));
    assert_eq!(forced["rolloutState"], "COMPLETED");
    assert_eq!(
        moto.ecs(
            "ListTasks",
            json!({ "cluster": s.cluster, "serviceName": s.app_service })
        ),
        json!({ "taskArns": [] }),
        "no tasks even with MOTO_ECS_SERVICE_RUNNING"
    );
}

#[test]
fn http_server_scripts_some_calls_and_forwards_the_rest_to_moto() {
    let moto = Moto::start();
    moto.ecs("CreateCluster", json!({ "clusterName": "c1" }));
    let moto_url = moto.url();
    let stand_in = HttpServer::start(move |req| match amz_target(req) {
        Some("DescribeServices") => Response::aws_error(400, "ServiceNotFoundException", "nope"),
        _ => forward(&moto_url, req),
    });

    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let call = |op: &str| {
        let mut resp = agent
            .post(format!("{}/", stand_in.url()))
            .header("Authorization", moto::authorization("ecs"))
            .header(
                "X-Amz-Target",
                format!("AmazonEC2ContainerServiceV20141113.{op}"),
            )
            .header("Content-Type", "application/x-amz-json-1.1")
            .send(r#"{"cluster":"c1","services":["x"],"taskDefinition":"nope:1"}"#)
            .unwrap();
        let status = resp.status().as_u16();
        (status, resp.body_mut().read_to_string().unwrap())
    };
    let (status, body) = call("ListClusters");
    assert_eq!(status, 200);
    assert!(body.contains("cluster/c1"), "{body}");
    let (status, body) = call("DescribeServices");
    assert_eq!(
        (status, body.as_str()),
        (
            400,
            r#"{"__type":"ServiceNotFoundException","message":"nope"}"#
        )
    );
    // moto's own 4xx comes back as is.
    let (status, body) = call("DescribeTaskDefinition");
    assert_eq!(status, 400);
    assert!(body.contains("ClientException"), "{body}");

    let requests = stand_in.requests();
    assert_eq!(requests.len(), 3);
    assert_eq!(amz_target(&requests[1]), Some("DescribeServices"));
    assert_eq!(requests[1].json()["services"], json!(["x"]));
    assert_eq!(requests[0].method, "POST");
    assert_eq!(requests[0].path, "/");
}

#[test]
fn http_server_keeps_connections_alive_and_decodes_chunked_bodies() {
    let server = HttpServer::start(|req| {
        Response::json(200, &json!({ "path": req.path, "body": req.body_str() }))
    });
    let addr = server.url().trim_start_matches("http://").to_string();
    let mut conn = TcpStream::connect(&addr).unwrap();
    conn.write_all(
        b"GET /repos/acme/dataspace?per_page=100 HTTP/1.1\r\nHost: x\r\n\r\n\
          POST /chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\
          Connection: close\r\n\r\n5\r\nhello\r\n7;ext=1\r\n, world\r\n0\r\n\r\n",
    )
    .unwrap();
    let mut answer = String::new();
    conn.read_to_string(&mut answer).unwrap(); // ends because the server honours close
    assert_eq!(answer.matches("HTTP/1.1 200 OK").count(), 2, "{answer}");
    assert!(
        answer.contains(r#"{"path":"/chunked","body":"hello, world"}"#),
        "{answer}"
    );
    assert!(answer.contains("Connection: close"), "{answer}");

    let requests = server.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[0].path, "/repos/acme/dataspace?per_page=100");
    assert_eq!(requests[0].path_only(), "/repos/acme/dataspace");
    assert_eq!(requests[1].body, b"hello, world");
    assert_eq!(requests[1].header("transfer-encoding"), Some("chunked"));
}

#[test]
fn http_server_answers_500_when_the_handler_panics() {
    let server = HttpServer::start(|_| panic!("scripted sequence exhausted"));
    let mut resp = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent()
        .get(format!("{}/x", server.url()))
        .call()
        .unwrap();
    assert_eq!(resp.status().as_u16(), 500);
    let body = resp.body_mut().read_to_string().unwrap();
    assert!(body.contains("scripted sequence exhausted"), "{body}");
}

#[test]
fn xml_values_extracts_every_element_text() {
    let xml = r#"<a><subnetId>s-1</subnetId><subnetIdx>no</subnetIdx>
        <subnetId attr="1">s-&amp;2</subnetId><subnetId/></a>"#;
    assert_eq!(xml_values(xml, "subnetId"), vec!["s-1", "s-&2", ""]);
    assert!(xml_values(xml, "missing").is_empty());
}

#[test]
fn outputs_parse_the_runners_file_command_format() {
    let text = "a=1\nempty=\njson<<ghadelim_123\n{\"x\": 1,\n \"y\": \"a=b\"}\nghadelim_123\n\
                eq=x=y\r\n\nb<<EOF\nEOF\na=2\n";
    let outputs = parse_outputs(text);
    assert_eq!(outputs["a"], "2");
    assert_eq!(outputs["empty"], "");
    assert_eq!(outputs["json"], "{\"x\": 1,\n \"y\": \"a=b\"}");
    assert_eq!(outputs["eq"], "x=y");
    assert_eq!(outputs["b"], "");
    assert_eq!(outputs.len(), 5);
}

#[test]
fn runner_gives_the_binary_a_workspace_and_fresh_file_commands() {
    let run = Run::new("http://127.0.0.1:9")
        .input("task-definition", "aws/task-definition.json")
        .file("aws/task-definition.json", "{}")
        .arg("--help");
    assert_eq!(
        run.env_var("INPUT_TASK-DEFINITION"),
        Some("aws/task-definition.json")
    );
    assert!(run.workspace().join("aws/task-definition.json").is_file());
    let output_path = run.env_var("GITHUB_OUTPUT").unwrap().to_string();
    assert!(!output_path.starts_with(&*run.workspace().to_string_lossy()));
    let event: Value = serde_json::from_str(
        &std::fs::read_to_string(run.env_var("GITHUB_EVENT_PATH").unwrap()).unwrap(),
    )
    .unwrap();
    assert_eq!(
        event["head_commit"]["id"],
        json!(run.env_var("GITHUB_SHA").unwrap())
    );

    for _ in 0..2 {
        std::fs::write(&output_path, "stale=from a previous run\n").unwrap();
        let outcome = run.run();
        outcome.assert_code(0);
        assert!(
            !outcome.outputs.contains_key("stale"),
            "{}",
            outcome.all_text()
        );
    }
}

/// scripts/moto-launch.py's first correction: a stack made through a change set has Outputs
/// (moto 5.2.5 gives it none), and keeps them over a change set that changes nothing.
#[test]
fn a_change_set_stack_has_its_outputs() {
    let moto = Moto::start();
    let template = "Resources:\n  Param:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Name: /selftest/x\n      Type: String\n      Value: hello\nOutputs:\n  ParamName:\n    Value: !Ref Param\n";
    for (n, kind) in [("1", "CREATE"), ("2", "UPDATE")] {
        let name = format!("cs{n}");
        let q = |action: &str| {
            moto.query(
                "cloudformation",
                &[
                    ("Action", action),
                    ("Version", "2010-05-15"),
                    ("StackName", "selftest"),
                    ("ChangeSetName", &name),
                    ("ChangeSetType", kind),
                    ("TemplateBody", template),
                ],
            )
        };
        q("CreateChangeSet");
        q("ExecuteChangeSet");
        let stacks = moto.query(
            "cloudformation",
            &[
                ("Action", "DescribeStacks"),
                ("Version", "2010-05-15"),
                ("StackName", "selftest"),
            ],
        );
        assert_eq!(
            xml_values(&stacks, "OutputValue"),
            vec!["/selftest/x".to_string()],
            "{kind}: {stacks}"
        );
    }
}
