//! Promotion (issue 12, DESIGN.md section 9): a registered revision, by ARN or
//! `family:revision`, given where a task-definition file is expected. Nothing is registered;
//! the service moves to it; `plan` shows the diff; a revision that cannot be deployed is
//! invalid input and nothing changes.

use serde_json::json;

use crate::support::seed::{self, APP_REPO, CLUSTER};
use crate::support::{push_image, seed_dataspace, Moto, MotoOptions, Run, Seeded};

fn start() -> (Moto, Seeded, String) {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    let s = seed_dataspace(&moto);
    push_image(&moto, APP_REPO, "tested");
    // What the test environment's run registered: revision 2 of the app's family.
    let mut tested = seed::app_task_definition(&s.app_repo_uri);
    tested["containerDefinitions"][0]["image"] = json!(format!("{}:tested", s.app_repo_uri));
    let arn = seed::register(&moto, &tested);
    (moto, s, arn)
}

fn promote(moto: &Moto, s: &Seeded, revision: &str) -> Run {
    Run::new(&moto.url())
        .input("cluster", CLUSTER)
        .input("service", &s.app_service)
        .input("task-definition", revision)
        .input("poll-interval-seconds", "0.2")
        .input("verify", "false")
}

fn live(moto: &Moto, service: &str) -> String {
    moto.service(CLUSTER, service)["taskDefinition"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn a_registered_revision_is_deployed_as_it_is_without_registering() {
    let (moto, s, arn) = start();
    let before = moto.task_definition_arns();
    let o = promote(&moto, &s, &arn).run();
    o.assert_code(0);
    assert_eq!(o.output("result"), "deployed", "{}", o.all_text());
    assert_eq!(live(&moto, &s.app_service), arn);
    assert_eq!(moto.task_definition_arns(), before, "nothing registered");
    // The prod job takes exactly this from the test job's output.
    assert_eq!(o.output("task-definition-arn"), arn);
    assert!(
        o.all_text()
            .contains("moves to the registered revision dataspace-app:2"),
        "{}",
        o.all_text()
    );
    // Again: it runs it already.
    let again = promote(&moto, &s, &arn).run();
    again.assert_code(0);
    assert_eq!(again.output("result"), "unchanged");
}

#[test]
fn plan_of_a_promotion_shows_the_diff_and_changes_nothing() {
    let (moto, s, arn) = start();
    let before = moto.snapshot(CLUSTER);
    let revisions = moto.task_definition_arns();
    let o = promote(&moto, &s, "dataspace-app:2")
        .input("mode", "plan")
        .run();
    o.assert_code(0);
    assert_eq!(o.output("result"), "planned");
    assert!(o.all_text().contains(":tested"), "{}", o.all_text());
    assert_eq!(moto.snapshot(CLUSTER), before);
    assert_eq!(moto.task_definition_arns(), revisions);
    assert_ne!(live(&moto, &s.app_service), arn);
}

#[test]
fn a_revision_that_does_not_exist_is_invalid_input_and_changes_nothing() {
    let (moto, s, _) = start();
    let before = moto.snapshot(CLUSTER);
    let revisions = moto.task_definition_arns();
    for revision in [
        "dataspace-app:99",
        "arn:aws:ecs:us-east-1:123456789012:task-definition/nope:1",
    ] {
        let o = promote(&moto, &s, revision).run();
        o.assert_code(2);
        assert!(
            o.all_text().contains(&format!(
                "input task-definition: the registered revision `{revision}`"
            )),
            "{}",
            o.all_text()
        );
        assert_eq!(o.output("result"), "failed");
    }
    assert_eq!(moto.snapshot(CLUSTER), before);
    assert_eq!(moto.task_definition_arns(), revisions);
}
