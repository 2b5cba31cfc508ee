//! Issue 4: the CloudFormation stack. Created, skipped when unchanged (without a change set),
//! updated on a template or parameter change, the empty change set, outputs substituted into a
//! task definition, plan previews, and bad input; on moto. moto has no failure states and no
//! outputs after a change set (DESIGN.md §7), so failures, rollbacks and an operation already
//! running are scripted by a stand-in in front of moto that answers DescribeStacks and
//! DescribeStackEvents with XML shaped like AWS's and forwards everything else.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::json;

use crate::support::seed::{app_task_definition, Seeded, APP_FAMILY};
use crate::support::*;

const STACK: &str = "dataspace-infra";
const CFN_VERSION: &str = "2010-05-15";

fn template(value: &str) -> String {
    format!(
        "AWSTemplateFormatVersion: '2010-09-09'\nParameters:\n  Env:\n    Type: String\n    Default: dev\nResources:\n  Param:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Name: !Sub '/it/${{Env}}/greeting'\n      Type: String\n      Value: {value}\nOutputs:\n  ParamName:\n    Value: !Ref Param\n"
    )
}

fn setup() -> (Moto, Seeded) {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    let seeded = seed_dataspace(&moto);
    (moto, seeded)
}

/// The app service with its seeded (unchanged) task definition, plus the stack inputs.
fn base(url: &str, seeded: &Seeded, tpl: &str) -> Run {
    copy_inputs(Run::new(url), seeded, tpl)
}

fn stack_xml(moto: &Moto) -> Option<String> {
    moto.try_query(
        "cloudformation",
        &[
            ("Action", "DescribeStacks"),
            ("Version", CFN_VERSION),
            ("StackName", STACK),
        ],
    )
    .ok()
}

fn stack_status(moto: &Moto) -> Option<String> {
    stack_xml(moto).and_then(|x| xml_values(&x, "StackStatus").into_iter().next())
}

/// The query-protocol `Action` of a request, or "" for other protocols.
fn action(req: &Request) -> String {
    req.body_str()
        .split('&')
        .find_map(|kv| kv.strip_prefix("Action="))
        .unwrap_or_default()
        .to_string()
}

fn cfn_calls(reqs: &[Request], act: &str) -> usize {
    reqs.iter().filter(|r| action(r) == act).count()
}

fn xml(body: String) -> Response {
    Response {
        status: 200,
        headers: vec![("Content-Type".into(), "text/xml".into())],
        body: body.into_bytes(),
    }
}

fn describe_stacks_xml(status: &str, reason: &str) -> Response {
    xml(format!(
        r#"<DescribeStacksResponse xmlns="http://cloudformation.amazonaws.com/doc/2010-05-15/">
  <DescribeStacksResult>
    <Stacks>
      <member>
        <StackName>{STACK}</StackName>
        <StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/{STACK}/6f1b5c80-0000-11ef-9a1b-0a1b2c3d4e5f</StackId>
        <CreationTime>2026-01-01T12:00:00.000Z</CreationTime>
        <StackStatus>{status}</StackStatus>
        <StackStatusReason>{reason}</StackStatusReason>
        <DisableRollback>false</DisableRollback>
        <Parameters>
          <member><ParameterKey>Env</ParameterKey><ParameterValue>dev</ParameterValue></member>
        </Parameters>
      </member>
    </Stacks>
  </DescribeStacksResult>
  <ResponseMetadata><RequestId>5ccc7dcd-744c-11e5-be70-000000000001</RequestId></ResponseMetadata>
</DescribeStacksResponse>"#
    ))
}

/// moto's own DescribeStacks answer (real ids, parameters) with the status replaced.
fn with_status(moto_url: &str, req: &Request, status: &str) -> Response {
    let mut resp = forward(moto_url, req);
    let body = resp.body_str();
    resp.body = match (body.find("<StackStatus>"), body.find("</StackStatus>")) {
        (Some(a), Some(b)) => format!(
            "{}<StackStatus>{status}</StackStatus>{}",
            &body[..a],
            &body[b + "</StackStatus>".len()..]
        )
        .into_bytes(),
        _ => body.into_bytes(),
    };
    resp
}

/// One `<member>` of DescribeStackEvents.
fn event(n: usize, logical: &str, ty: &str, status: &str, reason: &str) -> String {
    let physical = if ty == "AWS::CloudFormation::Stack" {
        format!("<PhysicalResourceId>arn:aws:cloudformation:us-east-1:123456789012:stack/{STACK}/6f1b5c80</PhysicalResourceId>")
    } else {
        String::new()
    };
    format!(
        "<member><EventId>scripted-{n}</EventId><StackId>arn:aws:cloudformation:us-east-1:123456789012:stack/{STACK}/6f1b5c80</StackId><StackName>{STACK}</StackName><LogicalResourceId>{logical}</LogicalResourceId>{physical}<ResourceType>{ty}</ResourceType><Timestamp>2026-01-01T12:00:{n:02}.000Z</Timestamp><ResourceStatus>{status}</ResourceStatus><ResourceStatusReason>{reason}</ResourceStatusReason></member>"
    )
}

/// moto's own answer with the scripted events (given oldest first) put on top, newest first.
fn with_events(moto_url: &str, req: &Request, scripted: &[String]) -> Response {
    let mut resp = forward(moto_url, req);
    let body = resp.body_str();
    let newest_first: String = scripted.iter().rev().cloned().collect();
    resp.body = match body.find("<StackEvents>") {
        Some(i) => {
            let at = i + "<StackEvents>".len();
            format!("{}{newest_first}{}", &body[..at], &body[at..]).into_bytes()
        }
        None => body.into_bytes(),
    };
    resp
}

const STACK_TYPE: &str = "AWS::CloudFormation::Stack";
const REASON: &str =
    "The parameter Name cannot start with a slash followed by aws (Service: Ssm, Status Code: 400)";

#[test]
fn creates_the_stack_then_skips_it_unchanged_without_a_change_set() {
    let (moto, seeded) = setup();
    let run = base(&moto.url(), &seeded, &template("one"));
    let first = run.run();
    first.assert_code(0);
    assert_eq!(
        first.output("stack-deployed"),
        "true",
        "{}",
        first.all_text()
    );
    assert_eq!(stack_status(&moto).as_deref(), Some("CREATE_COMPLETE"));
    assert!(
        first.stdout.contains("Add Param AWS::SSM::Parameter"),
        "{}",
        first.all_text()
    );
    assert!(
        first.summary.contains("deployed: CREATE"),
        "{}",
        first.summary
    );

    let proxy_target = moto.url();
    let proxy = HttpServer::start(move |req| forward(&proxy_target, req));
    let before = moto.snapshot(&seeded.cluster);
    let again = Run::new(&proxy.url());
    let again = copy_inputs(again, &seeded, &template("one")).run();
    again.assert_code(0);
    assert_eq!(again.output("stack-deployed"), "false");
    assert!(again.stdout.contains("unchanged"), "{}", again.all_text());
    let reqs = proxy.requests();
    assert_eq!(cfn_calls(&reqs, "CreateChangeSet"), 0);
    let cfn = reqs
        .iter()
        .filter(|r| r.body_str().contains(&format!("Version={CFN_VERSION}")))
        .count();
    assert!(
        cfn <= 2,
        "an unchanged stack costs at most 2 CloudFormation calls, got {cfn}"
    );
    assert_eq!(moto.snapshot(&seeded.cluster), before);
}

fn copy_inputs(run: Run, seeded: &Seeded, tpl: &str) -> Run {
    run.input("cluster", &seeded.cluster)
        .input("service", &seeded.app_service)
        .input("task-definition", "aws/task-definition.json")
        .input("poll-interval-seconds", "0.2")
        .input("comment-on-pr", "false")
        // The pre-deploy checks of log groups and secrets are not this file's subject.
        .input("verify", "false")
        .input("stack-name", STACK)
        .input("stack-template", "infra/stack.yml")
        .file(
            "aws/task-definition.json",
            &app_task_definition(&seeded.app_repo_uri).to_string(),
        )
        .file("infra/stack.yml", tpl)
}

#[test]
fn stack_tags_are_applied_and_a_tag_change_alone_sends_a_change_set() {
    let (moto, seeded) = setup();
    let tagged = |tags: &str| {
        base(&moto.url(), &seeded, &template("one"))
            .input("stack-tags", tags)
            .run()
    };
    let first = tagged("team=data\ncost-center=42");
    first.assert_code(0);
    let xml = stack_xml(&moto).expect("the stack exists");
    let values = xml_values(&xml, "Value");
    assert!(values.contains(&"data".to_string()), "{xml}");
    assert!(values.contains(&"42".to_string()), "{xml}");

    let same = tagged("cost-center=42\nteam=data");
    same.assert_code(0);
    assert_eq!(
        same.output("stack-deployed"),
        "false",
        "{}",
        same.all_text()
    );

    // A tag change alone sends a change set carrying the new tags (moto then finds nothing to
    // change, which is the empty-change-set path; AWS updates the tags).
    let target = moto.url();
    let proxy = HttpServer::start(move |req| forward(&target, req));
    let changed = copy_inputs(Run::new(&proxy.url()), &seeded, &template("one"))
        .input("stack-tags", "team=platform\ncost-center=42")
        .run();
    changed.assert_code(0);
    assert!(
        changed.stdout.contains("the tags changed"),
        "{}",
        changed.all_text()
    );
    let sent: Vec<String> = proxy
        .requests()
        .iter()
        .filter(|r| action(r) == "CreateChangeSet")
        .map(|r| r.body_str())
        .collect();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert!(
        sent[0].contains("Tags.member.") && sent[0].contains("platform"),
        "{}",
        sent[0]
    );
}

#[test]
fn verify_reads_the_stack_and_never_deploys_it() {
    let (moto, seeded) = setup();
    let target = moto.url();
    let proxy = HttpServer::start(move |req| forward(&target, req));
    let out = copy_inputs(Run::new(&proxy.url()), &seeded, &template("one"))
        .input("mode", "verify")
        .run();
    out.assert_code(0);
    assert_eq!(cfn_calls(&proxy.requests(), "CreateChangeSet"), 0);
    assert_eq!(stack_status(&moto), None, "verify created the stack");
    assert!(
        out.stdout.contains("deploy-stack: never"),
        "{}",
        out.all_text()
    );
}

#[test]
fn a_changed_template_is_updated() {
    let (moto, seeded) = setup();
    base(&moto.url(), &seeded, &template("one"))
        .run()
        .assert_code(0);
    let changed = base(&moto.url(), &seeded, &template("two")).run();
    changed.assert_code(0);
    assert_eq!(changed.output("stack-deployed"), "true");
    assert!(
        changed.stdout.contains("the template changed"),
        "{}",
        changed.all_text()
    );
    assert!(
        changed.stdout.contains("Modify Param AWS::SSM::Parameter"),
        "{}",
        changed.all_text()
    );
    assert_eq!(stack_status(&moto).as_deref(), Some("UPDATE_COMPLETE"));
}

#[test]
fn a_parameter_only_change_is_updated() {
    let (moto, seeded) = setup();
    base(&moto.url(), &seeded, &template("one"))
        .input("stack-parameters", "Env=dev")
        .run()
        .assert_code(0);
    let changed = base(&moto.url(), &seeded, &template("one"))
        .input("stack-parameters", "Env=prod")
        .run();
    changed.assert_code(0);
    assert_eq!(changed.output("stack-deployed"), "true");
    assert!(
        changed.stdout.contains("parameters changed: Env"),
        "{}",
        changed.all_text()
    );
    let xml = stack_xml(&moto).unwrap();
    assert_eq!(stack_status(&moto).as_deref(), Some("UPDATE_COMPLETE"));
    assert_eq!(xml_values(&xml, "ParameterValue"), vec!["prod"]);
}

/// Issue 22: a parameter value's leading (and trailing) spaces are part of it.
#[test]
fn a_parameter_value_keeps_its_spaces() {
    let (moto, seeded) = setup();
    base(&moto.url(), &seeded, &template("one"))
        .input("stack-parameters", "# the environment\nEnv=  two words ")
        .run()
        .assert_code(0);
    let xml = stack_xml(&moto).unwrap();
    assert_eq!(xml_values(&xml, "ParameterValue"), vec!["  two words "]);
}

#[test]
fn an_empty_change_set_is_success() {
    let (moto, seeded) = setup();
    base(&moto.url(), &seeded, &template("one"))
        .run()
        .assert_code(0);
    // `always` skips the comparison; moto refuses the change set ("No updates are to be
    // performed."), which is how it says "empty" when parameters are sent.
    let again = base(&moto.url(), &seeded, &template("one"))
        .input("deploy-stack", "always")
        .run();
    again.assert_code(0);
    assert_eq!(again.output("stack-deployed"), "false");
    assert!(
        again.stdout.contains("found no changes"),
        "{}",
        again.all_text()
    );
    assert_eq!(stack_status(&moto).as_deref(), Some("CREATE_COMPLETE"));
}

#[test]
fn a_failed_empty_change_set_is_success_and_deleted() {
    let (moto, seeded) = setup();
    base(&moto.url(), &seeded, &template("one"))
        .run()
        .assert_code(0);
    let target = moto.url();
    let proxy = HttpServer::start(move |req| match action(req).as_str() {
        "DescribeChangeSet" => {
            let mut resp = forward(&target, req);
            let body = resp.body_str();
            let body = body
                .replace("<Status>CREATE_COMPLETE</Status>", "<Status>FAILED</Status><StatusReason>The submitted information didn't contain changes. Submit different information to create a change set.</StatusReason>")
                .replace("<ExecutionStatus>AVAILABLE</ExecutionStatus>", "<ExecutionStatus>UNAVAILABLE</ExecutionStatus>");
            resp.body = body.into_bytes();
            resp
        }
        _ => forward(&target, req),
    });
    // A template change makes `auto` ask; the stand-in says the change set is empty.
    let again = copy_inputs(Run::new(&proxy.url()), &seeded, &template("two")).run();
    again.assert_code(0);
    assert_eq!(again.output("stack-deployed"), "false");
    assert!(
        again.stdout.contains("found no changes"),
        "{}",
        again.all_text()
    );
    let reqs = proxy.requests();
    assert_eq!(cfn_calls(&reqs, "DeleteChangeSet"), 1);
    assert_eq!(cfn_calls(&reqs, "ExecuteChangeSet"), 0);
}

#[test]
fn outputs_are_substituted_into_the_task_definition() {
    let (moto, seeded) = setup();
    // moto gives Outputs only to stacks made by CreateStack: make it so, then deploy with
    // `auto`, which finds it unchanged and reads its outputs.
    moto.query(
        "cloudformation",
        &[
            ("Action", "CreateStack"),
            ("Version", CFN_VERSION),
            ("StackName", STACK),
            ("TemplateBody", &template("one")),
        ],
    );
    // Not in `environment`: substituted values there are treated as secret and never shown.
    let mut td = app_task_definition(&seeded.app_repo_uri);
    td["containerDefinitions"][0]["logConfiguration"]["options"]["awslogs-group"] =
        json!("${STACK_ParamName}");
    let out = base(&moto.url(), &seeded, &template("one"))
        .file("aws/task-definition.json", &td.to_string())
        .run();
    out.assert_code(0);
    assert_eq!(out.output("stack-deployed"), "false");
    assert_eq!(
        out.output_json("stack-outputs"),
        json!({ "ParamName": "/it/dev/greeting" })
    );
    assert!(out.summary.contains("STACK_ParamName"), "{}", out.summary);
    let arn = out.output("task-definition-arn");
    assert!(arn.ends_with(&format!("{APP_FAMILY}:2")), "{arn}");
    let options =
        &moto.task_definition(arn)["containerDefinitions"][0]["logConfiguration"]["options"];
    assert_eq!(options["awslogs-group"], "/it/dev/greeting", "{options}");
}

#[test]
fn plan_previews_a_new_stack_and_leaves_nothing_behind() {
    let (moto, seeded) = setup();
    let before = moto.snapshot(&seeded.cluster);
    let out = base(&moto.url(), &seeded, &template("one"))
        .input("mode", "plan")
        .run();
    out.assert_code(0);
    assert!(
        out.stdout.contains("would make 1 change(s)"),
        "{}",
        out.all_text()
    );
    assert!(
        out.summary.contains("Add Param AWS::SSM::Parameter"),
        "{}",
        out.summary
    );
    assert_eq!(stack_status(&moto), None, "the preview's stack is deleted");
    assert_eq!(moto.snapshot(&seeded.cluster), before);
}

/// A first create that fails: ROLLBACK_COMPLETE, exit 1 naming the resource and its reason, no
/// ECS revision. The rerun deletes the stack and creates it again.
#[test]
fn a_failed_create_stops_the_deploy_and_a_rerun_recreates_the_stack() {
    let (moto, seeded) = setup();
    let before = moto.snapshot(&seeded.cluster);
    let target = moto.url();
    // Phase 0: the failing first run; 1: the rerun until DeleteStack; 2: plain moto.
    let phase = Arc::new(AtomicUsize::new(0));
    let executed = Arc::new(Mutex::new(false));
    let (p, ex) = (Arc::clone(&phase), Arc::clone(&executed));
    let proxy = HttpServer::start(move |req| {
        let act = action(req);
        let ph = p.load(Ordering::SeqCst);
        if act == "ExecuteChangeSet" {
            *ex.lock().unwrap() = true;
        }
        if act == "DeleteStack" && ph == 1 {
            p.store(2, Ordering::SeqCst);
            return forward(&target, req);
        }
        let failed = (ph == 0 && *ex.lock().unwrap()) || ph == 1;
        match act.as_str() {
            "DescribeStacks" if failed => with_status(&target, req, "ROLLBACK_COMPLETE"),
            "DescribeStackEvents" if ph == 0 && *ex.lock().unwrap() => with_events(
                &target,
                req,
                &[
                    event(1, STACK, STACK_TYPE, "CREATE_IN_PROGRESS", "User Initiated"),
                    event(2, "Param", "AWS::SSM::Parameter", "CREATE_IN_PROGRESS", ""),
                    event(3, "Param", "AWS::SSM::Parameter", "CREATE_FAILED", REASON),
                    event(4, STACK, STACK_TYPE, "ROLLBACK_IN_PROGRESS", "The following resource(s) failed to create: [Param]. Rollback requested by user."),
                    event(5, "Param", "AWS::SSM::Parameter", "DELETE_COMPLETE", ""),
                    event(6, STACK, STACK_TYPE, "ROLLBACK_COMPLETE", ""),
                ],
            ),
            _ => forward(&target, req),
        }
    });
    let mut td = app_task_definition(&seeded.app_repo_uri);
    td["cpu"] = json!("1024");
    let run = copy_inputs(Run::new(&proxy.url()), &seeded, &template("one"))
        .file("aws/task-definition.json", &td.to_string());
    let failed = run.run();
    failed.assert_code(1);
    let text = failed.all_text();
    assert!(
        text.contains("resource Param (AWS::SSM::Parameter) failed"),
        "{text}"
    );
    assert!(text.contains(REASON), "{text}");
    assert!(text.contains("ROLLBACK_COMPLETE"), "{text}");
    assert!(
        failed
            .stdout
            .contains("CREATE_FAILED AWS::SSM::Parameter Param"),
        "{text}"
    );
    assert_eq!(failed.output("result"), "failed");
    assert_eq!(
        moto.snapshot(&seeded.cluster),
        before,
        "no ECS revision, no update"
    );

    phase.store(1, Ordering::SeqCst);
    let rerun = run.run();
    rerun.assert_code(0);
    assert!(
        rerun.stdout.contains(
            "is ROLLBACK_COMPLETE (its first create failed): deleting it and creating it again"
        ),
        "{}",
        rerun.all_text()
    );
    assert_eq!(rerun.output("stack-deployed"), "true");
    assert_eq!(cfn_calls(&proxy.requests(), "DeleteStack"), 1);
    assert_eq!(stack_status(&moto).as_deref(), Some("CREATE_COMPLETE"));
    assert!(rerun.output("task-definition-arn").ends_with(":2"));
}

#[test]
fn a_failed_update_stops_the_deploy() {
    let (moto, seeded) = setup();
    base(&moto.url(), &seeded, &template("one"))
        .run()
        .assert_code(0);
    let before = moto.snapshot(&seeded.cluster);
    let target = moto.url();
    let executed = Arc::new(Mutex::new(false));
    let ex = Arc::clone(&executed);
    let proxy = HttpServer::start(move |req| {
        let act = action(req);
        if act == "ExecuteChangeSet" {
            *ex.lock().unwrap() = true;
        }
        let done = *ex.lock().unwrap();
        match act.as_str() {
            "DescribeStacks" if done => with_status(&target, req, "UPDATE_ROLLBACK_COMPLETE"),
            "DescribeStackEvents" if done => with_events(
                &target,
                req,
                &[
                    event(
                        11,
                        STACK,
                        STACK_TYPE,
                        "UPDATE_IN_PROGRESS",
                        "User Initiated",
                    ),
                    event(12, "Param", "AWS::SSM::Parameter", "UPDATE_FAILED", REASON),
                    event(
                        13,
                        STACK,
                        STACK_TYPE,
                        "UPDATE_ROLLBACK_IN_PROGRESS",
                        "The following resource(s) failed to update: [Param].",
                    ),
                    event(14, "Param", "AWS::SSM::Parameter", "UPDATE_COMPLETE", ""),
                    event(15, STACK, STACK_TYPE, "UPDATE_ROLLBACK_COMPLETE", ""),
                ],
            ),
            _ => forward(&target, req),
        }
    });
    let mut td = app_task_definition(&seeded.app_repo_uri);
    td["cpu"] = json!("1024");
    let out = copy_inputs(Run::new(&proxy.url()), &seeded, &template("two"))
        .file("aws/task-definition.json", &td.to_string())
        .run();
    out.assert_code(1);
    let text = out.all_text();
    assert!(
        text.contains("resource Param (AWS::SSM::Parameter) failed"),
        "{text}"
    );
    assert!(text.contains(REASON), "{text}");
    assert!(
        text.contains("the stack is now UPDATE_ROLLBACK_COMPLETE"),
        "{text}"
    );
    assert!(
        text.contains("console.aws.amazon.com/cloudformation"),
        "{text}"
    );
    assert_eq!(moto.snapshot(&seeded.cluster), before);
}

#[test]
fn a_stack_already_updating_is_waited_for() {
    let (moto, seeded) = setup();
    base(&moto.url(), &seeded, &template("one"))
        .run()
        .assert_code(0);
    let target = moto.url();
    let describes = Arc::new(AtomicUsize::new(0));
    let d = Arc::clone(&describes);
    let proxy = HttpServer::start(move |req| match action(req).as_str() {
        "DescribeStacks" if d.fetch_add(1, Ordering::SeqCst) < 2 => {
            describe_stacks_xml("UPDATE_IN_PROGRESS", "User Initiated")
        }
        _ => forward(&target, req),
    });
    let out = copy_inputs(Run::new(&proxy.url()), &seeded, &template("one")).run();
    out.assert_code(0);
    assert!(
        out.stdout
            .contains("is UPDATE_IN_PROGRESS (another operation is running): waiting"),
        "{}",
        out.all_text()
    );
    assert!(out.stdout.contains("unchanged"), "{}", out.all_text());
    assert!(describes.load(Ordering::SeqCst) >= 3);
    assert_eq!(cfn_calls(&proxy.requests(), "CreateChangeSet"), 0);
}

#[test]
fn sigterm_while_waiting_for_the_stack_writes_outputs_and_exits() {
    let (moto, seeded) = setup();
    base(&moto.url(), &seeded, &template("one"))
        .run()
        .assert_code(0);
    let target = moto.url();
    let describes = Arc::new(AtomicUsize::new(0));
    let d = Arc::clone(&describes);
    // Someone else's update that never ends.
    let proxy = HttpServer::start(move |req| match action(req).as_str() {
        "DescribeStacks" => {
            d.fetch_add(1, Ordering::SeqCst);
            describe_stacks_xml("UPDATE_IN_PROGRESS", "User Initiated")
        }
        _ => forward(&target, req),
    });
    let run = copy_inputs(Run::new(&proxy.url()), &seeded, &template("one"));
    let mut child = run.spawn();
    // Hang guards, not timing assertions.
    let guard = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while describes.load(Ordering::SeqCst) < 2 {
        assert!(
            std::time::Instant::now() < guard,
            "the stack was never waited for"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let status = crate::support::runner::terminate(&mut child, guard);
    let out = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(status.code(), Some(1), "{stdout}");
    assert!(stdout.contains("SIGTERM received: cancelled"), "{stdout}");
    let (outputs, summary) = run.files_written();
    assert_eq!(outputs.get("result").map(String::as_str), Some("failed"));
    assert!(summary.contains("SIGTERM received"), "{summary}");
    assert_eq!(cfn_calls(&proxy.requests(), "CreateChangeSet"), 0);
}

#[test]
fn update_rollback_failed_is_refused_with_the_console_link() {
    let (moto, seeded) = setup();
    let target = moto.url();
    let proxy = HttpServer::start(move |req| match action(req).as_str() {
        "DescribeStacks" => describe_stacks_xml("UPDATE_ROLLBACK_FAILED", ""),
        _ => forward(&target, req),
    });
    let out = copy_inputs(Run::new(&proxy.url()), &seeded, &template("one")).run();
    out.assert_code(1);
    let text = out.all_text();
    assert!(text.contains("is UPDATE_ROLLBACK_FAILED"), "{text}");
    assert!(text.contains("Continue update rollback"), "{text}");
    assert!(text.contains("https://us-east-1.console.aws.amazon.com/cloudformation/home?region=us-east-1\\#/stacks/stackinfo?stackId=arn%3Aaws%3Acloudformation"), "{text}");
    assert_eq!(cfn_calls(&proxy.requests(), "CreateChangeSet"), 0);
}

fn assert_nothing_created(moto: &Moto, out: &Outcome) {
    out.assert_code(2);
    assert_eq!(stack_status(moto), None, "{}", out.all_text());
}

#[test]
fn a_template_that_does_not_parse_is_invalid_input() {
    let (moto, seeded) = setup();
    let out = base(
        &moto.url(),
        &seeded,
        "Resources:\n  Param:\n    Type: [unclosed\n",
    )
    .run();
    assert_nothing_created(&moto, &out);
    assert!(
        out.stdout.contains("::error file=infra/stack.yml,line="),
        "{}",
        out.all_text()
    );
    assert!(out.stdout.contains("invalid YAML"), "{}", out.all_text());

    let out = base(&moto.url(), &seeded, "{\n  \"Resources\": {,}\n}\n").run();
    assert_nothing_created(&moto, &out);
    assert!(
        out.stdout
            .contains("::error file=infra/stack.yml,line=2,col=17::"),
        "{}",
        out.all_text()
    );
}

#[test]
fn bad_parameters_are_invalid_input() {
    let (moto, seeded) = setup();
    let out = base(&moto.url(), &seeded, &template("one"))
        .input("stack-parameters", "Env")
        .run();
    assert_nothing_created(&moto, &out);
    assert!(
        out.stdout.contains("is not `Key=Value`"),
        "{}",
        out.all_text()
    );

    let out = base(&moto.url(), &seeded, &template("one"))
        .input("stack-parameters", "file://infra/params-missing.json")
        .run();
    assert_nothing_created(&moto, &out);
    assert!(
        out.stdout.contains("params-missing.json: file not found"),
        "{}",
        out.all_text()
    );

    let out = base(&moto.url(), &seeded, &template("one"))
        .input("stack-parameters", "Environment=dev")
        .run();
    assert_nothing_created(&moto, &out);
    assert!(
        out.stdout.contains("Environment is not a parameter"),
        "{}",
        out.all_text()
    );

    let out = base(&moto.url(), &seeded, &template("one"))
        .input("deploy-stack", "sometimes")
        .run();
    assert_nothing_created(&moto, &out);
}

#[test]
fn a_template_over_the_inline_limit_is_invalid_input() {
    let (moto, seeded) = setup();
    let big = format!("{}# {}\n", template("one"), "x".repeat(52_000));
    let out = base(&moto.url(), &seeded, &big).run();
    assert_nothing_created(&moto, &out);
    assert!(
        out.stdout.contains("51200-byte limit"),
        "{}",
        out.all_text()
    );
}

/// The example DataSpace template deploys on moto (ElastiCache and Elasticsearch off: moto
/// cannot create them). Its NoEcho password makes `auto` ask CloudFormation on the rerun.
#[test]
fn the_example_template_deploys_and_reruns_unchanged() {
    let (moto, seeded) = setup();
    let example =
        include_str!("../../examples/dataspace/aws/cloudformation/dataspace-infrastructure.yml");
    let vpcs = moto.query(
        "ec2",
        &[("Action", "DescribeVpcs"), ("Version", "2016-11-15")],
    );
    let vpc = xml_values(&vpcs, "vpcId").remove(0);
    let params = json!([
        { "ParameterKey": "Environment", "ParameterValue": "staging" },
        { "ParameterKey": "VpcId", "ParameterValue": vpc },
        { "ParameterKey": "SubnetIds", "ParameterValue": seeded.subnet_id },
        { "ParameterKey": "DBPassword", "ParameterValue": "correct-horse-battery-staple" },
        { "ParameterKey": "CreateCacheAndSearch", "ParameterValue": "false" },
    ]);
    let run = base(&moto.url(), &seeded, example)
        .input("stack-parameters", "file://infra/params.json")
        .file("infra/params.json", &params.to_string());
    let first = run.run();
    first.assert_code(0);
    assert_eq!(first.output("stack-deployed"), "true");
    assert_eq!(stack_status(&moto).as_deref(), Some("CREATE_COMPLETE"));
    for resource in [
        "AWS::RDS::DBInstance",
        "AWS::IAM::Role",
        "AWS::ECS::Cluster",
        "AWS::Logs::LogGroup",
    ] {
        assert!(
            first.stdout.contains(resource),
            "{resource}: {}",
            first.all_text()
        );
    }
    let again = run.run();
    again.assert_code(0);
    assert!(
        again.stdout.contains("parameter DBPassword is NoEcho"),
        "{}",
        again.all_text()
    );
    // AWS would answer with an empty change set (FAILED, "didn't contain changes"); moto
    // cannot compare the NoEcho value and makes one without changes, which is executed (an
    // outputs-only change set has no changes either and must run).
    assert!(
        again.stdout.contains("makes 0 change(s)"),
        "{}",
        again.all_text()
    );
    assert_eq!(again.output("result"), "unchanged");
    for out in [&first, &again] {
        assert!(!out.all_text().contains("correct-horse-battery-staple"));
    }
}
