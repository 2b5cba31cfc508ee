//! Issue 6: images and credentials. ECR images are checked before anything is registered,
//! `pin-image-digests` registers digests, `role-to-assume` exchanges the GitHub OIDC token
//! (served here by a local HTTP server) for credentials of another moto account, and
//! `verify` prints OK / FAILED per item. No token, key or secret value may appear in
//! anything the binary prints or writes.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{json, Value};

use crate::support::moto::authorization;
use crate::support::runner::SECRET_ACCESS_KEY;
use crate::support::seed::{
    app_task_definition, otel_task_definition, repo_uri, APP_REPO, APP_SERVICE, CLUSTER,
    OTEL_SERVICE,
};
use crate::support::{
    forward, push_image, seed_dataspace, xml_values, HttpServer, Moto, MotoOptions, Outcome,
    Response, Run,
};

const APP_FILE: &str = "aws/task-definition.json";
const OTEL_FILE: &str = "aws/otel-task-definition.json";
const OTHER_ACCOUNT: &str = "111111111111";
const ROLE: &str = "arn:aws:iam::111111111111:role/deployer";
const JWT: &str = "canary-oidc-jwt.eyJzdWIiOiJyZXBvOmFjbWUvZGF0YXNwYWNlIn0.sig";
const REQUEST_TOKEN: &str = "canary-request-token";

fn moto() -> Moto {
    Moto::start_with(MotoOptions::default().service_running(1))
}

/// The app task definition running `image`, with a marker env var so it differs from
/// revision 1 and gets registered.
fn app_doc(image: &str) -> Value {
    let mut td = app_task_definition(&repo_uri(APP_REPO));
    td["containerDefinitions"][0]["image"] = json!(image);
    td["containerDefinitions"][0]["environment"]
        .as_array_mut()
        .unwrap()
        .push(json!({ "name": "RELEASE", "value": "2" }));
    td
}

fn deploy_app(moto_url: &str, doc: &Value) -> Run {
    Run::new(moto_url)
        .input("cluster", CLUSTER)
        .input("service", APP_SERVICE)
        .input("task-definition", APP_FILE)
        .file(APP_FILE, &serde_json::to_string_pretty(doc).unwrap())
}

/// Asserts none of `values` appears in anything the run printed or wrote.
fn assert_hidden(o: &Outcome, values: &[&str]) {
    let all = o.all_text();
    for v in values.iter().chain([&SECRET_ACCESS_KEY]) {
        assert!(!v.is_empty());
        assert!(!all.contains(v), "{v:?} leaked into the output:\n{all}");
    }
}

#[test]
fn an_image_present_in_ecr_deploys() {
    let moto = moto();
    let seeded = seed_dataspace(&moto);
    let digest = push_image(&moto, APP_REPO, "v2");
    let image = format!("{}:v2", seeded.app_repo_uri);
    let o = deploy_app(&moto.url(), &app_doc(&image)).run();
    o.assert_code(0);
    assert_eq!(o.output("result"), "deployed");
    assert!(
        o.stdout.contains(&format!("found: {image} ({digest})")),
        "{}",
        o.all_text()
    );
    let td = moto.task_definition(o.output("task-definition-arn"));
    assert_eq!(td["containerDefinitions"][0]["image"], json!(image));
    assert_hidden(&o, &[]);
}

#[test]
fn the_checks_that_run_at_once_print_in_order_and_a_failed_one_hides_the_later_ones() {
    // Images, verify and the comparison's reads run at once (issue 19); the log reads as if
    // they had run one after another.
    let moto = moto();
    let seeded = seed_dataspace(&moto);
    let digest = push_image(&moto, APP_REPO, "v2");
    let image = format!("{}:v2", seeded.app_repo_uri);
    let o = deploy_app(&moto.url(), &app_doc(&image)).run();
    o.assert_code(0);
    let at = |what: &str| {
        o.stdout
            .find(what)
            .unwrap_or_else(|| panic!("{what:?} is missing:\n{}", o.stdout))
    };
    let found = at(&format!("found: {image} ({digest})"));
    assert!(at("::group::Check images") < found, "{}", o.stdout);
    assert!(found < at("::group::Verify"), "{}", o.stdout);
    assert!(
        at("::group::Verify") < at("::group::Compare with the running task definitions"),
        "{}",
        o.stdout
    );
    assert!(at("::group::Verify") < at("log group"), "{}", o.stdout);
    // A missing image fails the run before verify, whose lines (its log group check, say)
    // never appear though verify ran beside it.
    let before = moto.snapshot(CLUSTER);
    let missing = format!("{}:v9", seeded.app_repo_uri);
    let o = deploy_app(&moto.url(), &app_doc(&missing)).run();
    o.assert_code(1);
    assert!(
        o.all_text().contains("tag v9 not found"),
        "{}",
        o.all_text()
    );
    assert!(!o.stdout.contains("::group::Verify"), "{}", o.stdout);
    assert!(!o.stdout.contains("log group"), "{}", o.stdout);
    assert_eq!(moto.snapshot(CLUSTER), before, "nothing may change in ECS");
}

#[test]
fn missing_images_stop_the_deploy_before_anything_is_registered() {
    let moto = moto();
    let seeded = seed_dataspace(&moto);
    let before = moto.snapshot(CLUSTER);
    let missing_tag = format!("{}:v9", seeded.app_repo_uri);
    let missing_repo = format!("{}:v1", repo_uri("never-created"));
    let mut otel = otel_task_definition(&seeded.otel_repo_uri);
    otel["containerDefinitions"][0]["image"] = json!(missing_repo);
    let o = deploy_app(&moto.url(), &app_doc(&missing_tag))
        .input("otel-service", OTEL_SERVICE)
        .input("otel-task-definition", OTEL_FILE)
        .file(OTEL_FILE, &otel.to_string())
        .run();
    o.assert_code(1);
    assert_eq!(o.output("result"), "failed");
    let all = o.all_text();
    for want in [
        missing_tag.as_str(),
        "tag v9 not found",
        missing_repo.as_str(),
        "repository never-created not found",
        "2 image(s) not found in ECR",
        "build-and-push step must run",
    ] {
        assert!(all.contains(want), "missing {want:?}:\n{all}");
    }
    assert_eq!(moto.snapshot(CLUSTER), before, "nothing may change in ECS");
    assert_hidden(&o, &[]);
}

#[test]
fn pin_image_digests_registers_the_digest_ecr_reports() {
    let moto = moto();
    let seeded = seed_dataspace(&moto);
    let digest = push_image(&moto, APP_REPO, "v2");
    assert!(digest.starts_with("sha256:"), "{digest}");
    let o = deploy_app(
        &moto.url(),
        &app_doc(&format!("{}:v2", seeded.app_repo_uri)),
    )
    .input("pin-image-digests", "true")
    .run();
    o.assert_code(0);
    let service = moto.service(CLUSTER, APP_SERVICE);
    let td = moto.task_definition(service["taskDefinition"].as_str().unwrap());
    assert_eq!(
        td["containerDefinitions"][0]["image"],
        json!(format!("{}@{digest}", seeded.app_repo_uri))
    );
    assert!(
        o.stdout
            .contains(&format!("dataspace: dataspace:v2 → {digest}")),
        "{}",
        o.all_text()
    );
}

/// One AWS JSON-protocol call as `account` (moto's `x-moto-account-id`).
fn call_as(moto: &Moto, account: &str, service: &str, target: &str, body: Value) -> Value {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .new_agent();
    let mut resp = agent
        .post(format!("{}/", moto.url()))
        .header("Authorization", authorization(service))
        .header("X-Amz-Target", target)
        .header("Content-Type", "application/x-amz-json-1.1")
        .header("x-moto-account-id", account)
        .send(body.to_string())
        .unwrap_or_else(|e| panic!("{target}: {e}"));
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    assert!(
        (200..300).contains(&status),
        "{target}: HTTP {status}: {text}"
    );
    serde_json::from_str(&text).unwrap_or(json!({}))
}

/// A default subnet and security group of `account` (moto gives every account a default VPC).
fn network_of(moto: &Moto, account: &str) -> (String, String) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    let ec2 = |action: &str, tag: &str| {
        let xml = agent
            .post(format!("{}/", moto.url()))
            .header("Authorization", authorization("ec2"))
            .header("Content-Type", "application/x-www-form-urlencoded")
            .header("x-moto-account-id", account)
            .send(format!("Action={action}&Version=2016-11-15"))
            .expect("calling EC2")
            .body_mut()
            .read_to_string()
            .unwrap();
        let mut ids = xml_values(&xml, tag);
        ids.sort();
        ids.into_iter()
            .next()
            .unwrap_or_else(|| panic!("{action}: no {tag}: {xml}"))
    };
    (
        ec2("DescribeSubnets", "subnetId"),
        ec2("DescribeSecurityGroups", "groupId"),
    )
}

/// The DataSpace app service, in account `OTHER_ACCOUNT`: where the assumed role acts.
fn seed_other_account(moto: &Moto) -> String {
    let ecs = |op: &str, body: Value| {
        call_as(
            moto,
            OTHER_ACCOUNT,
            "ecs",
            &format!("AmazonEC2ContainerServiceV20141113.{op}"),
            body,
        )
    };
    let ecr = |op: &str, body: Value| {
        call_as(
            moto,
            OTHER_ACCOUNT,
            "ecr",
            &format!("AmazonEC2ContainerRegistry_V20150921.{op}"),
            body,
        )
    };
    let repo = format!("{OTHER_ACCOUNT}.dkr.ecr.us-east-1.amazonaws.com/{APP_REPO}");
    ecs("CreateCluster", json!({ "clusterName": CLUSTER }));
    for group in crate::support::seed::LOG_GROUPS {
        call_as(
            moto,
            OTHER_ACCOUNT,
            "logs",
            "Logs_20140328.CreateLogGroup",
            json!({ "logGroupName": group }),
        );
    }
    ecr("CreateRepository", json!({ "repositoryName": APP_REPO }));
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": { "mediaType": "application/vnd.docker.container.image.v1+json", "size": 1,
                    "digest": format!("sha256:{}", "c".repeat(64)) },
        "layers": [],
    });
    ecr(
        "PutImage",
        json!({ "repositoryName": APP_REPO, "imageManifest": manifest.to_string(), "imageTag": "v1" }),
    );
    let td = ecs("RegisterTaskDefinition", app_task_definition(&repo));
    let (subnet, group) = network_of(moto, OTHER_ACCOUNT);
    ecs(
        "CreateService",
        json!({
            "cluster": CLUSTER,
            "serviceName": APP_SERVICE,
            "taskDefinition": td["taskDefinition"]["taskDefinitionArn"],
            "desiredCount": 1,
            "launchType": "FARGATE",
            "networkConfiguration": { "awsvpcConfiguration": {
                "subnets": [subnet], "securityGroups": [group], "assignPublicIp": "DISABLED" }},
        }),
    );
    format!("{repo}:v1")
}

/// A stand-in in front of moto that keeps STS's answers, so the test knows the credentials
/// the binary received (and can check they never leak).
fn sts_recording_proxy(moto: &Moto) -> (HttpServer, Arc<Mutex<Vec<String>>>) {
    let answers = Arc::new(Mutex::new(Vec::new()));
    let kept = Arc::clone(&answers);
    let url = moto.url();
    let proxy = HttpServer::start(move |req| {
        let resp = forward(&url, req);
        if req.body_str().contains("Action=AssumeRole") {
            kept.lock().unwrap().push(resp.body_str());
        }
        resp
    });
    (proxy, answers)
}

#[test]
fn role_to_assume_exchanges_the_github_oidc_token_and_deploys_as_that_role() {
    let moto = moto();
    seed_dataspace(&moto);
    let image = seed_other_account(&moto);
    let default_before = moto.snapshot(CLUSTER);
    let token_server = HttpServer::start(|_| Response::json(200, &json!({ "value": JWT })));
    let (proxy, sts_answers) = sts_recording_proxy(&moto);
    let o = deploy_app(&proxy.url(), &app_doc(&image))
        .input("role-to-assume", ROLE)
        .env(
            "ACTIONS_ID_TOKEN_REQUEST_URL",
            &format!("{}/token?x=1", token_server.url()),
        )
        .env("ACTIONS_ID_TOKEN_REQUEST_TOKEN", REQUEST_TOKEN)
        // OIDC is the only source of credentials, as in a job without stored keys.
        .without_env("AWS_ACCESS_KEY_ID")
        .without_env("AWS_SECRET_ACCESS_KEY")
        .run();
    o.assert_code(0);

    let token_requests = token_server.requests();
    assert_eq!(token_requests.len(), 1, "{token_requests:?}");
    assert_eq!(token_requests[0].method, "GET");
    assert_eq!(
        token_requests[0].path,
        "/token?x=1&audience=sts.amazonaws.com"
    );
    assert_eq!(
        token_requests[0].header("Authorization"),
        Some(format!("Bearer {REQUEST_TOKEN}").as_str())
    );

    let sts: Vec<String> = proxy
        .requests()
        .iter()
        .map(|r| r.body_str())
        .filter(|b| b.contains("Action=AssumeRoleWithWebIdentity"))
        .collect();
    assert_eq!(sts.len(), 1, "{sts:?}");
    for want in [
        "RoleArn=arn%3Aaws%3Aiam%3A%3A111111111111%3Arole%2Fdeployer".to_string(),
        "RoleSessionName=ecs-deploy-4242".to_string(),
        "DurationSeconds=3600".to_string(),
        format!("WebIdentityToken={JWT}"),
    ] {
        assert!(sts[0].contains(&want), "{want} not in {}", sts[0]);
    }

    // Every later call is signed with the assumed credentials, and acts in their account.
    let answer = sts_answers.lock().unwrap().first().cloned().unwrap();
    let key_id = xml_values(&answer, "AccessKeyId").remove(0);
    let secret = xml_values(&answer, "SecretAccessKey").remove(0);
    let session = xml_values(&answer, "SessionToken").remove(0);
    let ecs_calls: Vec<_> = proxy
        .requests()
        .into_iter()
        .filter(|r| {
            r.header("X-Amz-Target")
                .is_some_and(|t| t.contains("ContainerService"))
        })
        .collect();
    assert!(!ecs_calls.is_empty());
    for r in &ecs_calls {
        let auth = r.header("Authorization").unwrap_or_default();
        assert!(auth.contains(&format!("Credential={key_id}/")), "{auth}");
    }
    let arn = o.output("task-definition-arn");
    assert!(
        arn.starts_with(&format!(
            "arn:aws:ecs:us-east-1:{OTHER_ACCOUNT}:task-definition/dataspace-app:2"
        )),
        "{arn}"
    );
    assert!(
        o.stdout.contains("assumed-role/deployer/ecs-deploy-4242"),
        "{}",
        o.all_text()
    );
    assert_eq!(
        moto.snapshot(CLUSTER),
        default_before,
        "the default account is untouched"
    );
    assert_hidden(&o, &[JWT, REQUEST_TOKEN, &key_id, &secret, &session]);
}

#[test]
fn role_to_assume_chains_from_existing_credentials_without_an_oidc_token() {
    let moto = moto();
    let image = seed_other_account(&moto);
    let (proxy, sts_answers) = sts_recording_proxy(&moto);
    let o = deploy_app(&proxy.url(), &app_doc(&image))
        .input("role-to-assume", ROLE)
        .run();
    o.assert_code(0);
    assert!(proxy
        .requests()
        .iter()
        .any(|r| r.body_str().contains("Action=AssumeRole&")));
    assert!(o
        .output("task-definition-arn")
        .contains(&format!(":{OTHER_ACCOUNT}:task-definition/")));
    let answer = sts_answers.lock().unwrap().first().cloned().unwrap();
    let secret = xml_values(&answer, "SecretAccessKey").remove(0);
    let session = xml_values(&answer, "SessionToken").remove(0);
    assert_hidden(&o, &[&secret, &session]);
}

#[test]
fn role_to_assume_without_id_token_permission_says_to_add_it() {
    let moto = moto();
    seed_dataspace(&moto);
    let before = moto.snapshot(CLUSTER);
    let o = deploy_app(&moto.url(), &app_doc("nginx:1.27"))
        .input("role-to-assume", ROLE)
        .without_env("AWS_ACCESS_KEY_ID")
        .without_env("AWS_SECRET_ACCESS_KEY")
        .run();
    // A workflow that must be fixed before it can run: invalid input, nothing changed.
    o.assert_code(2);
    assert!(
        o.all_text()
            .contains("add `permissions: id-token: write` to the job"),
        "{}",
        o.all_text()
    );
    assert_eq!(moto.snapshot(CLUSTER), before);
    assert_hidden(&o, &[]);
}

fn put_parameter(moto: &Moto, name: &str, value: &str) {
    call_as(
        moto,
        "123456789012",
        "ssm",
        "AmazonSSM.PutParameter",
        json!({ "Name": name, "Value": value, "Type": "SecureString" }),
    );
}

#[test]
fn verify_prints_ok_or_failed_per_item_and_fails_on_a_missing_parameter() {
    let moto = moto();
    let seeded = seed_dataspace(&moto);
    put_parameter(&moto, "/dataspace/db-url", "canary-ssm-value-0001");
    let secret = call_as(
        &moto,
        "123456789012",
        "secretsmanager",
        "secretsmanager.CreateSecret",
        json!({ "Name": "dataspace/django", "SecretString": "canary-secret-value-0002" }),
    );
    let secret_arn = secret["ARN"].as_str().unwrap().to_string();
    // The seed made the log group `/ecs/dataspace`, as the DataSpace stack does.
    let missing = "arn:aws:ssm:us-east-1:123456789012:parameter/dataspace/missing";
    let mut td = app_doc(&seeded.app_image());
    td["containerDefinitions"][0]["secrets"] = json!([
        { "name": "DATABASE_URL", "valueFrom": "/dataspace/db-url" },
        { "name": "API_KEY", "valueFrom": missing },
        { "name": "DJANGO_SECRET_KEY", "valueFrom": format!("{secret_arn}:key::") },
    ]);
    let before = moto.snapshot(CLUSTER);
    let run = deploy_app(&moto.url(), &td).input("mode", "verify");
    let o = run.run();
    o.assert_code(1);
    for want in [
        format!("OK      cluster {CLUSTER}"),
        format!("OK      service {APP_SERVICE}"),
        format!("OK      image {}", seeded.app_image()),
        "OK      ssm parameter /dataspace/db-url (used by dataspace/DATABASE_URL)".to_string(),
        format!("FAILED  ssm parameter {missing} (used by dataspace/API_KEY): not found"),
        format!("OK      secret {secret_arn}:key::"),
        "OK      log group /ecs/dataspace".to_string(),
        "OK      execution role arn:aws:iam::123456789012:role/dataspace-ecs-execution".to_string(),
        "OK      task role arn:aws:iam::123456789012:role/dataspace-ecs-task".to_string(),
    ] {
        assert!(
            o.stdout.contains(&want),
            "missing {want:?}:\n{}",
            o.all_text()
        );
    }
    assert!(
        o.all_text().contains("verify: 1 check(s) failed"),
        "{}",
        o.all_text()
    );
    assert_eq!(moto.snapshot(CLUSTER), before, "verify changes nothing");
    assert_hidden(&o, &["canary-ssm-value-0001", "canary-secret-value-0002"]);

    put_parameter(&moto, "/dataspace/missing", "canary-ssm-value-0003");
    let o = run.run();
    o.assert_code(0);
    assert!(o
        .stdout
        .contains(&format!("OK      ssm parameter {missing}")));
    assert!(!o.stdout.contains("FAILED"), "{}", o.all_text());
    assert_hidden(&o, &["canary-ssm-value-0003"]);

    // A task role that does not exist fails verify too; one in another account is not checked.
    td["taskRoleArn"] = json!("arn:aws:iam::123456789012:role/dataspace-typo");
    td["executionRoleArn"] = json!("arn:aws:iam::999999999999:role/elsewhere");
    let o = deploy_app(&moto.url(), &td).input("mode", "verify").run();
    o.assert_code(1);
    assert!(
        o.stdout
            .contains("FAILED  task role arn:aws:iam::123456789012:role/dataspace-typo: not found"),
        "{}",
        o.all_text()
    );
    assert!(
        o.stdout
            .contains("SKIPPED execution role arn:aws:iam::999999999999:role/elsewhere"),
        "{}",
        o.all_text()
    );
}
