//! Housekeeping and the neighbours (issue 17, DESIGN section 14), against moto: old revisions
//! deregistered (and deleted) after a successful deploy, never one in use; EventBridge rule
//! targets and Scheduler schedules moved to the new revision with every other field kept, and
//! left alone after a rolled-back deploy; Terraform outputs (an `output -json` file, a state
//! file in S3) substituted into a task definition, the sensitive one never printed.

use serde_json::{json, Value};

use crate::rollout;
use crate::support::moto::authorization;
use crate::support::seed::{self, CLUSTER};
use crate::support::*;

const ACCOUNT: &str = "123456789012";
const REGION: &str = "us-east-1";

fn td_arn(family: &str, n: u32) -> String {
    format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/{family}:{n}")
}

fn cluster_arn() -> String {
    format!("arn:aws:ecs:{REGION}:{ACCOUNT}:cluster/{CLUSTER}")
}

/// A REST call to moto (Scheduler, S3): method, path, JSON or raw body.
fn rest(moto: &Moto, service: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .allow_non_standard_methods(true)
        .build()
        .new_agent();
    let req = ureq::http::Request::builder()
        .method(method)
        .uri(format!("{}{path}", moto.url()))
        .header("Authorization", authorization(service))
        .header("Content-Type", "application/json")
        .body(body.to_string())
        .unwrap();
    let mut resp = agent.run(req).unwrap();
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().unwrap_or_default())
}

fn events(moto: &Moto, op: &str, body: Value) -> Value {
    moto.call_json("events", &format!("AWSEvents.{op}"), body)
}

/// The ACTIVE revisions of a family, as `n`, ascending.
fn active(moto: &Moto, family: &str) -> Vec<u32> {
    let mut revs: Vec<u32> = moto
        .task_definition_arns()
        .iter()
        .filter_map(|a| a.rsplit('/').next())
        .filter_map(|s| s.split_once(':'))
        .filter(|(f, _)| *f == family)
        .filter_map(|(_, n)| n.parse().ok())
        .collect();
    revs.sort();
    revs
}

/// The app task definition that differs from every seeded one by `marker`.
fn app_doc(s: &Seeded, marker: &str) -> Value {
    let mut app = seed::app_task_definition(&s.app_repo_uri);
    app["containerDefinitions"][0]["environment"] = json!([{ "name": "MARKER", "value": marker }]);
    app
}

fn deploy_app(moto: &Moto, s: &Seeded, marker: &str) -> Run {
    Run::new(&moto.url())
        .input("cluster", CLUSTER)
        .input("service", &s.app_service)
        .input("task-definition", "aws/app.json")
        .input("poll-interval-seconds", "0.2")
        .file(
            "aws/app.json",
            &serde_json::to_string_pretty(&app_doc(s, marker)).unwrap(),
        )
}

/// An ECS target of a rule or schedule, with overrides and settings that must survive.
fn ecs_target(s: &Seeded, task_definition: &str) -> Value {
    json!({
        "TaskDefinitionArn": task_definition,
        "TaskCount": 1,
        "LaunchType": "FARGATE",
        "NetworkConfiguration": { "awsvpcConfiguration": {
            "Subnets": [s.subnet_id], "SecurityGroups": [s.security_group_id], "AssignPublicIp": "DISABLED"
        }},
    })
}

const OVERRIDES: &str =
    r#"{"containerOverrides":[{"name":"dataspace","command":["python","manage.py","nightly"]}]}"#;

fn put_rule(moto: &Moto, s: &Seeded, rule: &str, task_definition: &str) {
    events(
        moto,
        "PutRule",
        json!({ "Name": rule, "ScheduleExpression": "cron(0 3 * * ? *)" }),
    );
    events(
        moto,
        "PutTargets",
        json!({ "Rule": rule, "Targets": [{
            "Id": "t1",
            "Arn": cluster_arn(),
            "RoleArn": format!("arn:aws:iam::{ACCOUNT}:role/events-run-task"),
            "Input": OVERRIDES,
            "RetryPolicy": { "MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 3600 },
            "EcsParameters": ecs_target(s, task_definition),
        }]}),
    );
}

fn rule_target(moto: &Moto, rule: &str) -> Value {
    events(moto, "ListTargetsByRule", json!({ "Rule": rule }))["Targets"][0].clone()
}

fn create_schedule(moto: &Moto, s: &Seeded, name: &str, task_definition: &str) {
    let body = json!({
        "ScheduleExpression": "cron(0 3 * * ? *)",
        "FlexibleTimeWindow": { "Mode": "OFF" },
        "Target": {
            "Arn": cluster_arn(),
            "RoleArn": format!("arn:aws:iam::{ACCOUNT}:role/scheduler-run-task"),
            "Input": OVERRIDES,
            "RetryPolicy": { "MaximumRetryAttempts": 1 },
            "EcsParameters": ecs_target(s, task_definition),
        },
    });
    let (status, text) = rest(
        moto,
        "scheduler",
        "POST",
        &format!("/schedules/{name}"),
        &body.to_string(),
    );
    assert_eq!(status, 200, "CreateSchedule: {text}");
}

fn schedule(moto: &Moto, name: &str) -> Value {
    let (status, text) = rest(
        moto,
        "scheduler",
        "GET",
        &format!("/schedules/{name}?groupName=default"),
        "",
    );
    assert_eq!(status, 200, "GetSchedule: {text}");
    serde_json::from_str(&text).unwrap()
}

fn without_td(mut target: Value) -> Value {
    target["EcsParameters"]
        .as_object_mut()
        .unwrap()
        .remove("TaskDefinitionArn");
    target
}

#[test]
fn keep_five_leaves_the_newest_five_and_every_revision_in_use() {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    let s = seed_dataspace(&moto);
    let app = "dataspace-app";
    // 29 more revisions (2 to 30), each different, registered directly: most of the 30
    // deploys are cheap this way; the last two go through the binary.
    for n in 2..=30 {
        seed::register(&moto, &app_doc(&s, &format!("seeded-{n}")));
    }
    // The service runs revision 10 now: this run's rollback target.
    moto.ecs(
        "UpdateService",
        json!({ "cluster": CLUSTER, "service": s.app_service, "taskDefinition": td_arn(app, 10) }),
    );
    // Another service of the cluster runs revision 3; a rule nobody named runs revision 7.
    moto.ecs(
        "CreateService",
        s.service_body(CLUSTER, "dataspace-worker", &td_arn(app, 3)),
    );
    put_rule(&moto, &s, "weekly-export", &td_arn(app, 7));
    assert_eq!(active(&moto, app).len(), 30);

    let o = deploy_app(&moto, &s, "deploy-31")
        .input("keep-revisions", "5")
        .run();
    o.assert_code(0);
    assert_eq!(o.output("result"), "deployed", "{}", o.all_text());
    // Kept: the newest five (27-31), the rollback target (10), the other service's (3) and
    // its own rollback target (2: moto has no ListServiceDeployments, so the revision below
    // its current one, as `rollback` falls back to), the rule's target (7), and 1, which
    // moto's service deployment still names (moto never moves a deployment's
    // taskDefinition on UpdateService).
    assert_eq!(
        active(&moto, app),
        vec![1, 2, 3, 7, 10, 27, 28, 29, 30, 31],
        "{}",
        o.all_text()
    );
    assert!(o.summary.contains("### Housekeeping"), "{}", o.summary);
    assert!(
        o.summary.contains("deregistered 21 old revision(s)"),
        "{}",
        o.summary
    );
    assert!(o.summary.contains("kept because in use"), "{}", o.summary);
    // The other family is untouched.
    assert_eq!(active(&moto, "dataspace-otel"), vec![1]);

    // The next deploy: 31 becomes the rollback target and 10 is no longer in use (2 still
    // is: the worker's rollback target).
    let o = deploy_app(&moto, &s, "deploy-32")
        .input("keep-revisions", "5")
        .run();
    o.assert_code(0);
    assert_eq!(
        active(&moto, app),
        vec![1, 2, 3, 7, 28, 29, 30, 31, 32],
        "{}",
        o.all_text()
    );
    // Deregistered, not deleted: INACTIVE revisions stay describable.
    let gone = moto.task_definition(&td_arn(app, 10));
    assert_eq!(gone["status"], "INACTIVE");
}

#[test]
fn delete_revisions_deletes_what_was_deregistered_and_plan_changes_nothing() {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    let s = seed_dataspace(&moto);
    let app = "dataspace-app";
    for n in 2..=14 {
        seed::register(&moto, &app_doc(&s, &format!("seeded-{n}")));
    }
    // plan lists what would go and changes nothing.
    let before = moto.snapshot(CLUSTER);
    let o = deploy_app(&moto, &s, "planned")
        .input("mode", "plan")
        .input("keep-revisions", "3")
        .input("delete-revisions", "true")
        .run();
    o.assert_code(0);
    assert_eq!(moto.snapshot(CLUSTER), before);
    // The new revision will be one of the three: two of the registered ones stay, plus 1,
    // which the service runs.
    assert!(
        o.summary.contains("would deregister 11 old revision(s)"),
        "{}",
        o.summary
    );
    assert!(
        o.summary.contains("would delete 11 revision(s)"),
        "{}",
        o.summary
    );

    let o = deploy_app(&moto, &s, "deploy-15")
        .input("keep-revisions", "3")
        .input("delete-revisions", "true")
        .run();
    o.assert_code(0);
    assert_eq!(active(&moto, app), vec![1, 13, 14, 15], "{}", o.all_text());
    assert!(
        o.summary.contains("deleted 11 revision(s)"),
        "{}",
        o.summary
    );
    // Deleted: not ACTIVE, not INACTIVE any more (11 is more than one DeleteTaskDefinitions
    // call takes).
    let inactive = moto.ecs("ListTaskDefinitions", json!({ "status": "INACTIVE" }));
    assert_eq!(
        inactive["taskDefinitionArns"].as_array().map(Vec::len),
        Some(0),
        "{inactive}"
    );
}

#[test]
fn the_prune_command_previews_then_deregisters_a_family() {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    let s = seed_dataspace(&moto);
    for n in 2..=8 {
        seed::register(&moto, &app_doc(&s, &format!("seeded-{n}")));
    }
    let prune = |dry: &str| {
        Run::new(&moto.url())
            .arg("prune")
            .input("cluster", CLUSTER)
            .input("families", "dataspace-app")
            .input("keep-revisions", "2")
            .input("dry-run", dry)
            .run()
    };
    let o = prune("true");
    o.assert_code(0);
    assert_eq!(o.output("result"), "planned");
    assert!(
        o.stdout.contains("would deregister dataspace-app:6"),
        "{}",
        o.all_text()
    );
    assert_eq!(active(&moto, "dataspace-app").len(), 8);
    let o = prune("false");
    o.assert_code(0);
    // 1 runs in the service.
    assert_eq!(
        active(&moto, "dataspace-app"),
        vec![1, 7, 8],
        "{}",
        o.all_text()
    );
    // A family with no revision is a typo: exit 2, nothing deregistered.
    let o = Run::new(&moto.url())
        .arg("prune")
        .input("cluster", CLUSTER)
        .input("families", "dataspace-ap")
        .input("keep-revisions", "1")
        .run();
    o.assert_code(2);
    assert!(
        o.all_text()
            .contains("`dataspace-ap` has no ACTIVE revision"),
        "{}",
        o.all_text()
    );
    assert_eq!(active(&moto, "dataspace-app"), vec![1, 7, 8]);
}

#[test]
fn a_rule_target_and_a_schedule_move_to_the_new_revision_with_their_overrides() {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    let s = seed_dataspace(&moto);
    let app1 = td_arn("dataspace-app", 1);
    put_rule(&moto, &s, "nightly", &app1);
    create_schedule(&moto, &s, "nightly-report", &app1);
    // Not named: stays.
    put_rule(&moto, &s, "other", &app1);
    let rule_before = rule_target(&moto, "nightly");
    let schedule_before = schedule(&moto, "nightly-report");

    // An unknown name: exit 2 before anything changes.
    let o = deploy_app(&moto, &s, "v2")
        .input("scheduled-rules", "nightly")
        .input("schedules", "nightly-report\nno-such-schedule")
        .run();
    o.assert_code(2);
    assert!(
        o.all_text().contains(
            "EventBridge Scheduler schedule `no-such-schedule` was not found in group `default`"
        ),
        "{}",
        o.all_text()
    );
    assert_eq!(active(&moto, "dataspace-app"), vec![1]);
    assert_eq!(rule_target(&moto, "nightly"), rule_before);

    // plan lists them, old → new, and moves nothing.
    let o = deploy_app(&moto, &s, "v2")
        .input("mode", "plan")
        .input("scheduled-rules", "nightly")
        .input("schedules", "nightly-report")
        .run();
    o.assert_code(0);
    assert!(
        o.summary.contains("rule default/nightly \\(target t1\\): `dataspace-app:1` → `dataspace-app:(new revision)` (would move)"),
        "{}",
        o.summary
    );
    assert_eq!(rule_target(&moto, "nightly"), rule_before);

    let o = deploy_app(&moto, &s, "v2")
        .input("scheduled-rules", "nightly")
        .input("schedules", "nightly-report")
        .run();
    o.assert_code(0);
    assert_eq!(o.output("result"), "deployed", "{}", o.all_text());
    let app2 = td_arn("dataspace-app", 2);
    let rule_after = rule_target(&moto, "nightly");
    assert_eq!(
        rule_after["EcsParameters"]["TaskDefinitionArn"],
        json!(app2),
        "{}",
        o.all_text()
    );
    assert_eq!(without_td(rule_after), without_td(rule_before.clone()));
    let schedule_after = schedule(&moto, "nightly-report");
    assert_eq!(
        schedule_after["Target"]["EcsParameters"]["TaskDefinitionArn"],
        json!(app2)
    );
    assert_eq!(
        without_td(schedule_after["Target"].clone()),
        without_td(schedule_before["Target"].clone())
    );
    assert_eq!(
        schedule_after["ScheduleExpression"],
        schedule_before["ScheduleExpression"]
    );
    assert_eq!(
        schedule_after["FlexibleTimeWindow"],
        schedule_before["FlexibleTimeWindow"]
    );
    assert_eq!(
        rule_target(&moto, "other")["EcsParameters"]["TaskDefinitionArn"],
        json!(app1)
    );
    assert!(
        o.summary.contains(
            "schedule default/nightly-report: `dataspace-app:1` → `dataspace-app:2` (moved)"
        ),
        "{}",
        o.summary
    );

    // Every one in the region that targets this cluster, when asked: `other` follows too.
    let o = deploy_app(&moto, &s, "v3")
        .input("move-cluster-schedules", "true")
        .run();
    o.assert_code(0);
    let app3 = td_arn("dataspace-app", 3);
    for rule in ["nightly", "other"] {
        assert_eq!(
            rule_target(&moto, rule)["EcsParameters"]["TaskDefinitionArn"],
            json!(app3),
            "{}",
            o.all_text()
        );
    }
    assert_eq!(
        schedule(&moto, "nightly-report")["Target"]["EcsParameters"]["TaskDefinitionArn"],
        json!(app3)
    );
}

#[test]
fn a_failed_rolled_back_deploy_leaves_them_on_the_old_revision() {
    let moto = Moto::start();
    let s = rollout::setup(&moto);
    let app1 = td_arn("dataspace-app", 1);
    put_rule(&moto, &s, "nightly", &app1);
    create_schedule(&moto, &s, "nightly-report", &app1);
    // A target without a revision runs the newest: after the rollback it is pinned to the
    // revision the service went back to.
    put_rule(
        &moto,
        &s,
        "hourly",
        &format!("arn:aws:ecs:{REGION}:{ACCOUNT}:task-definition/dataspace-app"),
    );
    let ecs = StandIn::start(
        &moto,
        &s,
        Plot::PullFails(Schedule::at([1.0])),
        Plot::Complete(0.0),
    );
    let o = rollout::files(Run::new(&ecs.url()), &s)
        .input("scheduled-rules", "nightly\nhourly")
        .input("schedules", "nightly-report")
        .input("keep-revisions", "1")
        .run();
    o.assert_code(1);
    assert_eq!(o.output("result"), "rolled-back");
    assert_eq!(
        rule_target(&moto, "nightly")["EcsParameters"]["TaskDefinitionArn"],
        json!(app1)
    );
    assert_eq!(
        rule_target(&moto, "hourly")["EcsParameters"]["TaskDefinitionArn"],
        json!(app1),
        "{}",
        o.all_text()
    );
    assert_eq!(
        schedule(&moto, "nightly-report")["Target"]["EcsParameters"]["TaskDefinitionArn"],
        json!(app1)
    );
    // Nothing deregistered after a failed deploy.
    assert_eq!(active(&moto, "dataspace-app"), vec![1, 2]);
}

/// A task definition that takes its settings from Terraform's outputs.
fn tf_doc(s: &Seeded) -> Value {
    let mut app = seed::app_task_definition(&s.app_repo_uri);
    app["containerDefinitions"][0]["environment"] = json!([
        { "name": "DB_HOST", "value": "${TFOUT_db_host}" },
        { "name": "DB_PORT", "value": "${TFOUT_db_port}" },
        { "name": "SUBNETS", "value": "${TFOUT_subnets}" },
        { "name": "DB_PASSWORD", "value": "${TFOUT_db_password}" },
    ]);
    app
}

const SENSITIVE: &str = "tf-sensitive-Zq8x1Lw0pQ";

fn outputs_json() -> String {
    json!({
        "db_host": { "sensitive": false, "type": "string", "value": "db.tf.internal" },
        "db_port": { "sensitive": false, "type": "number", "value": 5432 },
        "subnets": { "sensitive": false, "type": ["list", "string"], "value": ["subnet-a", "subnet-b"] },
        "db_password": { "sensitive": true, "type": "string", "value": SENSITIVE },
    })
    .to_string()
}

fn env_of(moto: &Moto, td: &str) -> Vec<(String, String)> {
    let doc = moto.task_definition(td);
    let mut env: Vec<(String, String)> = doc["containerDefinitions"][0]["environment"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().into(),
                e["value"].as_str().unwrap().into(),
            )
        })
        .collect();
    env.sort();
    env
}

#[test]
fn terraform_outputs_from_a_file_and_from_a_state_in_s3_become_variables() {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    let s = seed_dataspace(&moto);
    let want = vec![
        ("DB_HOST".to_string(), "db.tf.internal".to_string()),
        ("DB_PASSWORD".into(), SENSITIVE.into()),
        ("DB_PORT".into(), "5432".into()),
        ("SUBNETS".into(), r#"["subnet-a","subnet-b"]"#.into()),
    ];
    let run = |source: &str, files: &[(&str, String)]| {
        let mut r = Run::new(&moto.url())
            .input("cluster", CLUSTER)
            .input("service", &s.app_service)
            .input("task-definition", "aws/app.json")
            .input("poll-interval-seconds", "0.2")
            .input("terraform-outputs", source)
            .file(
                "aws/app.json",
                &serde_json::to_string_pretty(&tf_doc(&s)).unwrap(),
            );
        for (p, t) in files {
            r = r.file(p, t);
        }
        r.run()
    };
    let o = run(
        "infra/outputs.json",
        &[("infra/outputs.json", outputs_json())],
    );
    o.assert_code(0);
    assert_eq!(env_of(&moto, &td_arn("dataspace-app", 2)), want);
    assert!(!o.all_text().contains(SENSITIVE), "{}", o.all_text());

    // A state file in S3 (moto's), with one output changed so a new revision is registered.
    let state = json!({
        "version": 4, "terraform_version": "1.9.5", "serial": 3, "lineage": "abc",
        "outputs": serde_json::from_str::<Value>(&outputs_json().replace("db.tf.internal", "db2.tf.internal")).unwrap(),
        "resources": [],
    });
    assert_eq!(rest(&moto, "s3", "PUT", "/tf-state", "").0, 200);
    let (status, text) = rest(
        &moto,
        "s3",
        "PUT",
        "/tf-state/env/dev/terraform.tfstate",
        &state.to_string(),
    );
    assert_eq!(status, 200, "{text}");
    let o = run("s3://tf-state/env/dev/terraform.tfstate", &[]);
    o.assert_code(0);
    let mut want2 = want.clone();
    want2[0].1 = "db2.tf.internal".into();
    assert_eq!(
        env_of(&moto, &td_arn("dataspace-app", 3)),
        want2,
        "{}",
        o.all_text()
    );
    assert!(!o.all_text().contains(SENSITIVE), "{}", o.all_text());

    // A missing key in S3 is invalid input: nothing registered.
    let o = run("s3://tf-state/env/prod/terraform.tfstate", &[]);
    o.assert_code(2);
    assert!(
        o.all_text().contains("could not read it from S3"),
        "{}",
        o.all_text()
    );
    assert_eq!(active(&moto, "dataspace-app"), vec![1, 2, 3]);
}
