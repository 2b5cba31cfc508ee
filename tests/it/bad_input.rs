//! The bad-input corpus (issues 2 and 8): one table of invalid inputs, files and environments,
//! each run through the real binary against one seeded moto. Every row asserts the exact exit
//! code, a message naming the culprit, `result=failed`, no leaked credential, and that AWS is
//! exactly as before (services, deployments, desired counts and the task-definition list). A
//! case that changes nothing but fails for the wrong reason is caught by its message fragments;
//! the control run at the start proves the base inputs are valid.

use std::path::Path;

use serde_json::{json, Value};

use crate::support::runner::SECRET_ACCESS_KEY;
use crate::support::seed::{self, CLUSTER};
use crate::support::*;

/// A second cluster holding a service the DataSpace cluster does not have.
const OTHER_CLUSTER: &str = "dataspace-prod";
const OTHER_SERVICE: &str = "dataspace-worker";

/// What a case writes into the workspace.
enum Body {
    Text(&'static str),
    Bytes(&'static [u8]),
    /// A valid-looking file one byte over the 10 MB limit.
    Huge,
    Dir,
    /// A task definition whose containerDefinitions nest this many arrays deep.
    Nested(usize),
    /// A symbolic link to this absolute path.
    Symlink(&'static str),
    /// A named pipe (nothing ever writes to it).
    Fifo,
    /// Text made by this function (too large or too regular to write out).
    Generated(fn() -> String),
}

struct Case {
    name: &'static str,
    /// Inputs set over the valid base; an empty value means "not given", as on a runner.
    inputs: &'static [(&'static str, &'static str)],
    /// A file written into the workspace and given as `task-definition` (before `inputs`).
    file: Option<(&'static str, Body)>,
    env: &'static [(&'static str, &'static str)],
    code: i32,
    /// Each must appear in stdout or stderr.
    says: &'static [&'static str],
    /// None may appear anywhere the binary writes.
    never: &'static [&'static str],
}

const fn case(
    name: &'static str,
    inputs: &'static [(&'static str, &'static str)],
    code: i32,
    says: &'static [&'static str],
) -> Case {
    Case {
        name,
        inputs,
        file: None,
        env: &[],
        code,
        says,
        never: &[],
    }
}

/// A case whose culprit is the app task-definition file at `path`.
const fn file_case(
    name: &'static str,
    path: &'static str,
    body: Body,
    says: &'static [&'static str],
) -> Case {
    Case {
        name,
        inputs: &[],
        file: Some((path, body)),
        env: &[],
        code: 2,
        says,
        never: &[],
    }
}

const BILLION_LAUGHS: &str =
    "family: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
containerDefinitions: [*i,*i,*i,*i,*i,*i,*i,*i,*i]
";

/// Issue 18/22 (hostile files): YAML flow collections nested 50,000 deep.
fn deep_flow_yaml() -> String {
    let n = 50_000;
    format!(
        "family: dataspace-app\ncontainerDefinitions: {}{}\n",
        "[".repeat(n),
        "]".repeat(n)
    )
}

/// A 48 KB file whose aliases stay under serde_yaml_ng's repetition limit and expanded to
/// gigabytes.
fn alias_bomb(prefix: &str, width: usize) -> String {
    let item = "x".repeat(28);
    format!(
        "{prefix}a: &a [{}]\nb: [{}]\n",
        vec![item; width].join(","),
        vec!["*a"; width].join(",")
    )
}

fn alias_bomb_task() -> String {
    alias_bomb("family: dataspace-app\n", 1500)
}

/// A template under CloudFormation's 51,200-byte inline limit whose aliases expand.
fn alias_bomb_template() -> String {
    alias_bomb("Resources:\n  P: {Type: AWS::SSM::Parameter}\n", 700)
}

fn unset_variables() -> String {
    let env: Vec<Value> = (0..10_000)
        .map(|i| json!({"name": format!("V{i}"), "value": format!("${{UNSET_{i}}}")}))
        .collect();
    serde_json::to_string_pretty(&json!({
        "family": "dataspace-app",
        "containerDefinitions": [{"name": "dataspace", "image": "repo:v1", "environment": env}]
    }))
    .unwrap()
}

/// The stack inputs of a template case: the case's file is the template, and the app keeps
/// its valid task definition.
const TEMPLATE_INPUTS: &[(&str, &str)] = &[
    ("task-definition", "aws/app.json"),
    ("stack-name", "dataspace-infra"),
    ("stack-template", "infra/stack.yml"),
];

const VALID_TEMPLATE: &str = "Parameters:\n  Env:\n    Type: String\nResources:\n  P:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Name: !Sub '/it/${Env}'\n      Type: String\n      Value: x\n";

const fn template_case(
    name: &'static str,
    body: Body,
    inputs: &'static [(&'static str, &'static str)],
    says: &'static [&'static str],
    never: &'static [&'static str],
) -> Case {
    Case {
        name,
        inputs,
        file: Some(("infra/stack.yml", body)),
        env: &[],
        code: 2,
        says,
        never,
    }
}

const CASES: &[Case] = &[
    file_case(
        "a compose file given as the task definition",
        "docker-compose.yaml",
        Body::Text("services:\n  web:\n    image: nginx\n    secrets: [db]\n"),
        &["docker-compose.yaml is a docker-compose file, not a task definition: give it as input compose-file"],
    ),
    case(
        "a wait target that names no stage",
        &[("wait-until", "BAKING")],
        2,
        &["input wait-until `BAKING` names no stage: give finished, paused, ready (CodeDeploy), or one of RECONCILE_SERVICE"],
    ),
    case(
        "continue on a rolling service",
        &[("mode", "continue")],
        2,
        &["service `dataspace-app` rolls out rolling, which has no lifecycle hooks to continue"],
    ),
    case(
        "an ARN that is not a task-definition ARN",
        &[("task-definition", "arn:aws:ecs:us-east-1:123456789012:task-definition/")],
        2,
        &["input task-definition: `arn:aws:ecs:us-east-1:123456789012:task-definition/` is not a task-definition ARN"],
    ),
    case(
        "another service's revision to promote",
        &[("task-definition", "dataspace-otel:1")],
        2,
        &["the revision `dataspace-otel:1` runs container(s) otel-collector, but service dataspace-app runs dataspace"],
    ),
    case(
        "a missing service without a definition",
        &[("services", "dataspace-new=aws/app.json")],
        2,
        &["service `dataspace-new` was not found in cluster `dataspace-dev`", "to create it, give its service definition (a `service-definitions` line `dataspace-new=path/to/service-definition.json`)"],
    ),
    // --- required inputs and their pairs -------------------------------------------------
    case("missing cluster", &[("cluster", "")], 2, &["input cluster is required"]),
    case("whitespace cluster", &[("cluster", "  \t ")], 2, &["input cluster is required"]),
    case(
        "no service at all",
        &[("service", ""), ("task-definition", ""), ("otel-service", ""), ("otel-task-definition", "")],
        2,
        &["no service to deploy"],
    ),
    case(
        "service without task-definition",
        &[("task-definition", "")],
        2,
        &["input service `dataspace-app` is given without task-definition"],
    ),
    case(
        "task-definition without service",
        &[("service", "")],
        2,
        &["input task-definition `aws/app.json` is given without service"],
    ),
    case(
        "otel-service without its file",
        &[("otel-task-definition", "  ")],
        2,
        &["input otel-service `dataspace-otel` is given without otel-task-definition"],
    ),
    case(
        "service name with a space",
        &[("service", "dataspace app")],
        2,
        &["`dataspace app` is not an ECS service name"],
    ),
    // --- services -----------------------------------------------------------------------------
    case(
        "services line without =",
        &[("services", "dataspace-worker")],
        2,
        &["input services, line 1: `dataspace-worker` is not `service-name=path/to/taskdef.json`"],
    ),
    case(
        "services line with an empty file",
        &[("services", "# more\ndataspace-worker=")],
        2,
        &["input services, line 2: `dataspace-worker=`"],
    ),
    case(
        "duplicate service",
        &[("services", "dataspace-app = aws/app.json")],
        2,
        &["service `dataspace-app` is listed twice: remove one"],
    ),
    case(
        "service listed twice with different files",
        &[("services", "dataspace-app=aws/otel.json")],
        2,
        &["service `dataspace-app` is listed twice with different task-definition files"],
    ),
    // --- numbers, booleans and enumerations ------------------------------------------------
    case(
        "non-numeric wait-for-minutes",
        &[("wait-for-minutes", "soon")],
        2,
        &["input wait-for-minutes `soon` is not a number from 0.01 to 360"],
    ),
    case("negative wait-for-minutes", &[("wait-for-minutes", "-5")], 2, &["input wait-for-minutes `-5`"]),
    case("zero wait-for-minutes", &[("wait-for-minutes", "0")], 2, &["input wait-for-minutes `0`"]),
    case(
        "huge wait-for-minutes",
        &[("wait-for-minutes", "100000000000000000000")],
        2,
        &["input wait-for-minutes `100000000000000000000`"],
    ),
    case(
        "fractional wait-for-minutes under the minimum",
        &[("wait-for-minutes", "0.001")],
        2,
        &["input wait-for-minutes `0.001` is not a number from 0.01 to 360"],
    ),
    case("NaN wait-for-minutes", &[("wait-for-minutes", "NaN")], 2, &["input wait-for-minutes `NaN`"]),
    case(
        "zero poll-interval-seconds",
        &[("poll-interval-seconds", "0")],
        2,
        &["input poll-interval-seconds `0` is not a number from 0.1 to 300"],
    ),
    case("unknown mode", &[("mode", "destroy")], 2, &["input mode `destroy` is not one of deploy, plan"]),
    case(
        "bad boolean in force-new-deployment",
        &[("force-new-deployment", "yes")],
        2,
        &["input force-new-deployment `yes` is not true or false"],
    ),
    case(
        "bad boolean in wait-for-service-stability",
        &[("wait-for-service-stability", "maybe")],
        2,
        &["input wait-for-service-stability `maybe` is not true or false"],
    ),
    case(
        "numeric boolean in rollback-on-failure",
        &[("rollback-on-failure", "1")],
        2,
        &["input rollback-on-failure `1` is not true or false"],
    ),
    case(
        "negative desired-count",
        &[("desired-count", "-1")],
        2,
        &["input desired-count `-1` is not a whole number of tasks"],
    ),
    case(
        "non-numeric desired-count",
        &[("desired-count", "two")],
        2,
        &["input desired-count `two` is not a whole number of tasks"],
    ),
    case("unknown region format", &[("region", "mars")], 2, &["input region `mars` is not an AWS region name"]),
    case("upper-case region", &[("region", "US-EAST-1")], 2, &["input region `US-EAST-1` is not an AWS region name"]),
    case(
        "desired-count over the 32-bit range",
        &[("desired-count", "99999999999")],
        2,
        &["input desired-count `99999999999` is not a whole number of tasks"],
    ),
    case("infinite wait-for-minutes", &[("wait-for-minutes", "inf")], 2, &["input wait-for-minutes `inf`"]),
    case("mode with two words", &[("mode", "deploy now")], 2, &["input mode `deploy now` is not one of"]),
    // --- issue 18: one setting given twice, the wrong thing named, values ECS refuses -----
    // (config.rs; the command-line cases are in CLI_CASES below)
    case(
        "same service by name and by ARN",
        &[("services", "arn:aws:ecs:us-east-1:123456789012:service/dataspace-dev/dataspace-app=aws/app.json")],
        2,
        &["service `dataspace-app` is given twice, as `dataspace-app` (input service) and as `arn:aws:ecs:us-east-1:123456789012:service/dataspace-dev/dataspace-app` (input services, line 1)"],
    ),
    case(
        "same service by ARN and by name in two inputs",
        &[
            ("service", "arn:aws:ecs:us-east-1:123456789012:service/dataspace-dev/dataspace-app"),
            ("services", "# the app again\ndataspace-app=aws/otel.json"),
        ],
        2,
        &["service `dataspace-app` is given twice", "(input service) and as `dataspace-app` (input services, line 2)"],
    ),
    case(
        "same service as app and collector",
        &[("otel-service", "dataspace-app")],
        2,
        &["service `dataspace-app` is listed twice with different task-definition files", "(input service and input otel-service)"],
    ),
    case(
        "services line with an ARN of another cluster",
        &[
            ("services", "arn:aws:ecs:us-east-1:123456789012:service/dataspace-prod/dataspace-worker=aws/app.json"),
            ("service", ""),
            ("task-definition", ""),
        ],
        2,
        &["input services, line 1: service `arn:aws:ecs:us-east-1:123456789012:service/dataspace-prod/dataspace-worker` was not found in cluster `dataspace-dev`: its ARN names cluster `dataspace-prod`"],
    ),
    case(
        "service ARN of another region",
        &[("service", "arn:aws:ecs:eu-west-1:123456789012:service/dataspace-dev/dataspace-app")],
        2,
        &["input service: service `arn:aws:ecs:eu-west-1:123456789012:service/dataspace-dev/dataspace-app` is in region eu-west-1, but this run works in us-east-1"],
    ),
    case(
        "cluster ARN of another region",
        &[("cluster", "arn:aws:ecs:eu-west-1:123456789012:cluster/dataspace-dev")],
        2,
        &["input cluster `arn:aws:ecs:eu-west-1:123456789012:cluster/dataspace-dev` is in region eu-west-1, but this run works in us-east-1"],
    ),
    case(
        "service ARN of another account than the cluster ARN",
        &[
            ("cluster", "arn:aws:ecs:us-east-1:123456789012:cluster/dataspace-dev"),
            ("otel-service", "arn:aws:ecs:us-east-1:210987654321:service/dataspace-dev/dataspace-otel"),
        ],
        2,
        &["input otel-service: service `arn:aws:ecs:us-east-1:210987654321:service/dataspace-dev/dataspace-otel` is in account 210987654321, but input cluster"],
    ),
    case(
        "task ARN given as the service",
        &[("service", "arn:aws:ecs:us-east-1:123456789012:task/dataspace-dev/0123456789abcdef")],
        2,
        &["input service: `arn:aws:ecs:us-east-1:123456789012:task/dataspace-dev/0123456789abcdef` is not an ECS service name"],
    ),
    case(
        "cluster ARN that is not a cluster's",
        &[("cluster", "arn:aws:ecs:us-east-1:123456789012:service/dataspace-dev/dataspace-app")],
        2,
        &["input cluster `arn:aws:ecs:us-east-1:123456789012:service/dataspace-dev/dataspace-app` is not an ECS cluster ARN"],
    ),
    case("cluster name with a space", &[("cluster", "dataspace dev")], 2, &["input cluster `dataspace dev` is not an ECS cluster name"]),
    Case {
        name: "unsubstituted variable as the service",
        inputs: &[("service", "${APP_SERVICE}")],
        file: None,
        env: &[("APP_SERVICE", "dataspace-app")],
        code: 2,
        says: &[
            "input service: `${APP_SERVICE}` is not an ECS service name",
            "inputs are not substituted: write `${{ env.APP_SERVICE }}`",
        ],
        never: &["input task-definition"],
    },
    case(
        "unsubstituted variable as wait-for-minutes",
        &[("wait-for-minutes", "${WAIT}")],
        2,
        &["input wait-for-minutes `${WAIT}` is not a number from 0.01 to 360; inputs are not substituted"],
    ),
    case(
        "desired-count over the ECS per-service quota",
        &[("desired-count", "5001")],
        2,
        &["input desired-count `5001` is not a whole number of tasks from 0 to 5000"],
    ),
    case(
        "desired-count of the largest 32-bit number",
        &[("desired-count", "2147483647")],
        2,
        &["input desired-count `2147483647` is not a whole number of tasks from 0 to 5000"],
    ),
    case(
        "fractional desired-count",
        &[("desired-count", "1.5")],
        2,
        &["input desired-count `1.5` is not a whole number of tasks"],
    ),
    case(
        "wait-for-minutes over the maximum",
        &[("wait-for-minutes", "360.5")],
        2,
        &["input wait-for-minutes `360.5` is not a number from 0.01 to 360"],
    ),
    case(
        "two unknown stack capabilities",
        &[("stack-capabilities", "CAPABILITY_FOO,CAPABILITY_BAR")],
        2,
        &["input stack-capabilities: `CAPABILITY_FOO`, `CAPABILITY_BAR` are not one of CAPABILITY_IAM"],
    ),
    // --- end of the issue-18 block --------------------------------------------------------
    // --- images -------------------------------------------------------------------------------
    case(
        "images line without =",
        &[("images", "dataspace")],
        2,
        &["input images, line 1: `dataspace` is not `container-name=image-uri`"],
    ),
    case(
        "images value with a space",
        &[("images", "dataspace=repo/dataspace:v1 extra")],
        2,
        &["input images, line 1: `dataspace=repo/dataspace:v1 extra`"],
    ),
    case(
        "images naming a container that exists nowhere",
        &[("images", "web=123456789012.dkr.ecr.us-east-1.amazonaws.com/dataspace:v1")],
        2,
        &["no task definition has a container named `web`"],
    ),
    case(
        "images duplicate container",
        &[("images", "dataspace=repo/dataspace:v1\ndataspace=repo/dataspace:v2")],
        2,
        &["input images, line 2: container `dataspace` is given twice"],
    ),
    // --- stack inputs ---------------------------------------------------------------------
    case("deploy-stack sometimes", &[("deploy-stack", "sometimes")], 2, &["input deploy-stack `sometimes`"]),
    // Names CloudFormation would refuse, refused before anything changes (issue 18).
    case(
        "stack name with a space",
        &[("stack-name", "dataspace infra"), ("stack-template", "infra/stack.yaml")],
        2,
        &["input stack-name `dataspace infra` is not a CloudFormation stack name"],
    ),
    case(
        "stack name with a slash",
        &[("stack-name", "dataspace/infra"), ("stack-template", "infra/stack.yaml")],
        2,
        &["input stack-name `dataspace/infra` is not a CloudFormation stack name"],
    ),
    case(
        "stack name holding a carriage return and a workflow command",
        &[("stack-name", "infra\r::warning::owned"), ("stack-template", "infra/stack.yaml")],
        2,
        &["is not a CloudFormation stack name"],
    ),
    case(
        "stack name starting with a digit",
        &[("stack-name", "1infra"), ("stack-template", "infra/stack.yaml")],
        2,
        &["input stack-name `1infra` is not a CloudFormation stack name"],
    ),
    case(
        "stack-name without stack-template",
        &[("stack-name", "dataspace-dev")],
        2,
        &["input stack-name is given without stack-template"],
    ),
    case(
        "stack-template without stack-name",
        &[("stack-template", "infra/stack.yaml")],
        2,
        &["input stack-template is given without stack-name"],
    ),
    case(
        "stack-parameters line without =",
        &[("stack-parameters", "Environment dev")],
        2,
        &["input stack-parameters, line 1: `Environment dev` is not `Key=Value`"],
    ),
    case(
        "unknown stack capability",
        &[("stack-capabilities", "CAPABILITY_IAM, CAPABILITY_FOO")],
        2,
        &["input stack-capabilities: `CAPABILITY_FOO` is not"],
    ),
    // --- paths -------------------------------------------------------------------------------
    case(
        "file that does not exist",
        &[("task-definition", "aws/nope.json")],
        2,
        &["aws/nope.json: file not found"],
    ),
    case(
        "path with .. escaping the workspace",
        &[("task-definition", "aws/../../outside.json")],
        2,
        &["input task-definition: path `aws/../../outside.json` is outside the workspace"],
    ),
    case(
        "absolute path outside the workspace",
        &[("otel-task-definition", "/etc/passwd")],
        2,
        &["input otel-task-definition: path `/etc/passwd` is outside the workspace"],
    ),
    Case {
        name: "symlink leaving the workspace",
        inputs: &[],
        file: Some(("aws/link.json", Body::Symlink("/etc/passwd"))),
        env: &[],
        code: 2,
        says: &["path `aws/link.json` is outside the workspace"],
        never: &["root:x:"],
    },
    Case {
        name: "services path escaping the workspace",
        inputs: &[("services", "dataspace-worker=../../../etc/passwd")],
        file: None,
        env: &[],
        code: 2,
        says: &["input services: path `../../../etc/passwd` is outside the workspace"],
        never: &["root:x:"],
    },
    // --- files --------------------------------------------------------------------------------
    file_case("directory as file", "aws/dir.json", Body::Dir, &["aws/dir.json: is a directory"]),
    file_case(
        "JSON with a duplicate key",
        "aws/dupkey.json",
        Body::Text(r#"{"family": "dataspace-app", "containerDefinitions": [{"name": "dataspace", "image": "repo:v1"}], "family": "other"}"#),
        &["aws/dupkey.json: invalid JSON: duplicate key `family`"],
    ),
    file_case("empty file", "aws/empty.json", Body::Text(""), &["aws/empty.json: file is empty"]),
    file_case("whitespace-only file", "aws/blank.yaml", Body::Text(" \n\t\n"), &["aws/blank.yaml: file is empty"]),
    file_case(
        "file over 10 MB",
        "aws/huge.json",
        Body::Huge,
        &["aws/huge.json: file is 10485761 bytes, over the 10485760-byte limit"],
    ),
    file_case(
        "invalid UTF-8",
        "aws/latin1.json",
        Body::Bytes(b"{\"family\": \"caf\xe9\", \"containerDefinitions\": []}"),
        &["aws/latin1.json: file is not valid UTF-8 (first bad byte at offset 15)"],
    ),
    file_case(
        "malformed JSON",
        "aws/bad.json",
        Body::Text("{\n  \"family\": \"dataspace-app\",\n  \"containerDefinitions\": [}\n"),
        &["aws/bad.json: invalid JSON", "::error file=aws/bad.json,line=3,col="],
    ),
    file_case(
        "JSON with a trailing comma",
        "aws/comma.json",
        Body::Text("{\"family\": \"dataspace-app\", \"containerDefinitions\": [{\"name\": \"a\", \"image\": \"b\"},]}"),
        &["aws/comma.json: invalid JSON", "::error file=aws/comma.json,line=1,col="],
    ),
    file_case(
        "malformed YAML",
        "aws/bad.yaml",
        Body::Text("family: dataspace-app\ncontainerDefinitions:\n  - name: dataspace\n   image: repo:v1\n"),
        &["aws/bad.yaml: invalid YAML", "::error file=aws/bad.yaml,line="],
    ),
    file_case(
        "YAML tag",
        "aws/tag.yaml",
        Body::Text("family: !Ref Family\ncontainerDefinitions: [{name: a, image: b}]\n"),
        &["aws/tag.yaml: yaml tag !Ref at /family is not supported"],
    ),
    file_case(
        "YAML billion laughs",
        "aws/bomb.yaml",
        Body::Text(BILLION_LAUGHS),
        &["aws/bomb.yaml: invalid YAML", "repetition limit"],
    ),
    file_case(
        "top level is an array",
        "aws/array.json",
        Body::Text("[{\"family\": \"dataspace-app\"}]"),
        &["aws/array.json: the JSON top level must be a mapping"],
    ),
    file_case(
        "task definition missing family",
        "aws/nofamily.json",
        Body::Text(r#"{"containerDefinitions": [{"name": "dataspace", "image": "repo:v1"}]}"#),
        &["aws/nofamily.json: task definition is missing `family`"],
    ),
    file_case(
        "empty family",
        "aws/emptyfamily.json",
        Body::Text(r#"{"family": " ", "containerDefinitions": [{"name": "dataspace", "image": "repo:v1"}]}"#),
        &["aws/emptyfamily.json: task definition `family` must be a non-empty string"],
    ),
    file_case(
        "missing containerDefinitions",
        "aws/nocontainers.json",
        Body::Text(r#"{"family": "dataspace-app"}"#),
        &["aws/nocontainers.json:", "`containerDefinitions`", "non-empty array"],
    ),
    file_case(
        "empty containerDefinitions",
        "aws/zerocontainers.yaml",
        Body::Text("family: dataspace-app\ncontainerDefinitions: []\n"),
        &["aws/zerocontainers.yaml:", "`containerDefinitions`", "non-empty array"],
    ),
    file_case(
        "unknown top-level field (typo)",
        "aws/typo.json",
        Body::Text(r#"{"family": "dataspace-app", "containerDefinition": [{"name": "dataspace", "image": "repo:v1"}]}"#),
        &["unknown task definition field `containerDefinition`", "did you mean `containerDefinitions`"],
    ),
    file_case(
        "describe wrapper with an extra field",
        "aws/wrapper.json",
        Body::Text(r#"{"taskDefinition": {"family": "dataspace-app", "containerDefinitions": [{"name": "dataspace", "image": "repo:v1"}]}, "ResponseMetadata": {}}"#),
        &["unexpected field `ResponseMetadata` next to `taskDefinition`"],
    ),
    file_case(
        "duplicate container names",
        "aws/dup.json",
        Body::Text(r#"{"family": "dataspace-app", "containerDefinitions": [{"name": "dataspace", "image": "repo:v1"}, {"name": "dataspace", "image": "repo:v2"}]}"#),
        &["aws/dup.json: duplicate container name `dataspace` in containerDefinitions"],
    ),
    file_case(
        "YAML with a duplicate key",
        "aws/dupkey.yaml",
        Body::Text("family: dataspace-app\ncontainerDefinitions: [{name: dataspace, image: 'repo:v1'}]\nfamily: other\n"),
        &["aws/dupkey.yaml: invalid YAML: duplicate entry with key \"family\""],
    ),
    file_case(
        "JSON nested too deep",
        "aws/deep.json",
        Body::Nested(200),
        &["aws/deep.json: invalid JSON", "recursion limit"],
    ),
    // --- substitution -----------------------------------------------------------------------
    file_case(
        "two unset variables, both listed",
        "aws/unset.json",
        Body::Text("{\n  \"family\": \"dataspace-app\",\n  \"containerDefinitions\": [{\n    \"name\": \"dataspace\",\n    \"image\": \"${REGISTRY_NOT_SET}/dataspace:${TAG_NOT_SET}\"\n  }]\n}\n"),
        &[
            "variable REGISTRY_NOT_SET is not set",
            "variable TAG_NOT_SET is not set",
            "::error file=aws/unset.json,line=5,",
        ],
    ),
    file_case(
        "${ never closed",
        "aws/unclosed.json",
        Body::Text(r#"{"family": "dataspace-app", "containerDefinitions": [{"name": "dataspace", "image": "repo:${IMAGE_TAG"}]}"#),
        &["aws/unclosed.json:", "placeholder ${IMAGE_TAG is never closed"],
    ),
    file_case(
        "${NAME:- never closed",
        "aws/unclosed-default.yaml",
        Body::Text("family: dataspace-app\ncontainerDefinitions:\n  - name: dataspace\n    image: \"repo:${IMAGE_TAG:-v1\"\n"),
        &["aws/unclosed-default.yaml:", "the default for variable IMAGE_TAG is never closed"],
    ),
    file_case(
        "invalid variable name",
        "aws/badname.json",
        Body::Text(r#"{"family": "dataspace-app", "containerDefinitions": [{"name": "dataspace", "image": "repo:${IMAGE-TAG}"}]}"#),
        &["aws/badname.json:", "invalid variable name", "IMAGE-TAG"],
    ),
    file_case(
        "variable name starting with a digit",
        "aws/digit.json",
        Body::Text(r#"{"family": "dataspace-app", "containerDefinitions": [{"name": "dataspace", "image": "repo:${1TAG}"}]}"#),
        &["aws/digit.json:", "invalid variable name", "1TAG"],
    ),
    Case {
        name: "forbidden credential variable",
        inputs: &[],
        file: Some((
            "aws/creds.json",
            Body::Text(r#"{"family": "dataspace-app", "containerDefinitions": [{"name": "dataspace", "image": "repo:v1", "environment": [{"name": "KEY", "value": "${AWS_SECRET_ACCESS_KEY}"}]}]}"#),
        )),
        env: &[],
        code: 2,
        says: &["variable AWS_SECRET_ACCESS_KEY carries runner or AWS credentials and is never substituted"],
        never: &[SECRET_ACCESS_KEY],
    },
    Case {
        name: "forbidden credential variable with a default",
        inputs: &[],
        file: Some((
            "aws/token.yaml",
            Body::Text("family: dataspace-app\ncontainerDefinitions:\n  - name: dataspace\n    image: repo:v1\n    environment:\n      - name: T\n        value: ${GITHUB_TOKEN:-none}\n"),
        )),
        env: &[("GITHUB_TOKEN", "ghs_canaryTokenValue0123456789")],
        code: 2,
        says: &["variable GITHUB_TOKEN carries runner or AWS credentials"],
        never: &["ghs_canaryTokenValue0123456789"],
    },
    Case {
        name: "the run's AWS secret key copied under another name",
        inputs: &[],
        file: Some((
            "aws/copied.json",
            Body::Text(r#"{"family": "dataspace-app", "containerDefinitions": [{"name": "dataspace", "image": "repo:v1", "environment": [{"name": "KEY", "value": "${COPIED_KEY}"}]}]}"#),
        )),
        env: &[("COPIED_KEY", SECRET_ACCESS_KEY)],
        code: 2,
        says: &["variable COPIED_KEY holds a credential of this run"],
        never: &[SECRET_ACCESS_KEY],
    },
    Case {
        name: "containerPort from a non-numeric variable",
        inputs: &[],
        file: Some((
            "aws/port.json",
            Body::Text(r#"{"family": "dataspace-app", "containerDefinitions": [{"name": "dataspace", "image": "repo:v1", "portMappings": [{"containerPort": "${PORT}"}]}]}"#),
        )),
        env: &[("PORT", "eighty")],
        code: 2,
        says: &["field containerPort", "variable PORT does not hold one", "whole number"],
        never: &["eighty"],
    },
    // --- the trigger ------------------------------------------------------------------------
    Case {
        name: "pull_request_target without allow",
        inputs: &[],
        file: None,
        env: &[("GITHUB_EVENT_NAME", "pull_request_target")],
        code: 2,
        says: &["refusing to deploy on a pull_request_target event", "allow-pull-request-target: true"],
        never: &[],
    },
    // --- AWS state (checked before any change) ------------------------------------------------
    case(
        "missing cluster in AWS",
        &[("cluster", "nope")],
        2,
        &["cluster `nope` was not found in us-east-1"],
    ),
    case(
        "missing service",
        &[("service", "dataspace-nope")],
        2,
        &["service `dataspace-nope` was not found in cluster `dataspace-dev`"],
    ),
    case(
        "service that exists in another cluster",
        &[("services", "dataspace-worker=aws/app.json"), ("service", ""), ("task-definition", "")],
        2,
        &["service `dataspace-worker` was not found in cluster `dataspace-dev`"],
    ),
    case(
        "service ARN of another cluster",
        &[("service", "arn:aws:ecs:us-east-1:123456789012:service/dataspace-prod/dataspace-worker")],
        2,
        &["was not found in cluster `dataspace-dev`"],
    ),
    case(
        "service with the CodeDeploy controller and no CodeDeploy application",
        &[("services", "dataspace-bluegreen=aws/app.json"), ("service", ""), ("task-definition", "")],
        2,
        &["service `dataspace-bluegreen` uses the CODE_DEPLOY deployment controller, but its CodeDeploy application `AppECS-dataspace-dev-dataspace-bluegreen` does not exist"],
    ),
    case(
        "deleted service",
        &[("services", "dataspace-old=aws/app.json"), ("service", ""), ("task-definition", "")],
        2,
        &["service `dataspace-old` in cluster `dataspace-dev` is INACTIVE, not ACTIVE"],
    ),
    case(
        "two missing services, both named",
        &[("service", "dataspace-nope"), ("otel-service", "otel-nope")],
        2,
        &[
            "service `dataspace-nope` was not found in cluster `dataspace-dev`",
            "service `otel-nope` was not found in cluster `dataspace-dev`",
        ],
    ),
    // --- the one-off task (issue 13): refused before anything is registered, run or updated -
    case(
        "empty one-off command",
        &[("run-task-command", "[]")],
        2,
        &["input run-task-command: the command is empty"],
    ),
    case(
        "one-off command that does not split",
        &[("run-task-command", "python -c 'print(1)")],
        2,
        &["input run-task-command: the single quote at character 11 is never closed"],
    ),
    case(
        "one-off container the task does not have",
        &[("run-task-command", "python manage.py migrate"), ("run-task-container", "migrator")],
        2,
        &["input run-task-container: the task definition of service dataspace-app (aws/app.json) has no container `migrator`; it has `dataspace`"],
    ),
    Case {
        name: "several essential containers and none named for the one-off task",
        inputs: &[("run-task-command", "python manage.py migrate")],
        file: Some((
            "aws/two.json",
            Body::Text(r#"{"family": "dataspace-app", "networkMode": "awsvpc", "containerDefinitions": [{"name": "dataspace", "image": "repo:v1"}, {"name": "nginx", "image": "nginx:1"}]}"#),
        )),
        env: &[],
        code: 2,
        says: &["input run-task-container is needed: the task definition of service dataspace-app (aws/two.json) has 2 essential containers (`dataspace`, `nginx`)"],
        never: &[],
    },
    case(
        "one-off service that is not part of the run",
        &[("run-task-command", "python manage.py migrate"), ("run-task-service", "dataspace-worker")],
        2,
        &["input run-task-service: `dataspace-worker` is not a service of this run", "`dataspace-app`, `dataspace-otel`"],
    ),
    Case {
        name: "network override for a bridge-mode one-off task",
        inputs: &[("run-task-command", "python manage.py migrate"), ("run-task-subnets", "subnet-0abc")],
        file: Some((
            "aws/bridge.json",
            Body::Text(r#"{"family": "dataspace-app", "networkMode": "bridge", "containerDefinitions": [{"name": "dataspace", "image": "repo:v1", "memory": 512}]}"#),
        )),
        env: &[],
        code: 2,
        says: &["input run-task-subnets: the task definition of service dataspace-app (aws/bridge.json) uses network mode bridge, which takes no network configuration"],
        never: &[],
    },
    case(
        "one-off deadline that is not a number",
        &[("run-task-command", "python manage.py migrate"), ("run-task-timeout-minutes", "soon")],
        2,
        &["input run-task-timeout-minutes `soon` is not a number from 0.01 to 360"],
    ),
    case(
        "one-off settings without a command",
        &[("run-task-container", "dataspace")],
        2,
        &["input run-task-container is given without run-task-command"],
    ),
    case(
        "one-off launch type and capacity providers both",
        &[
            ("run-task-command", "python manage.py migrate"),
            ("run-task-launch-type", "FARGATE"),
            ("run-task-capacity-provider-strategy", r#"[{"capacityProvider": "FARGATE_SPOT"}]"#),
        ],
        2,
        &["inputs run-task-launch-type and run-task-capacity-provider-strategy are both given"],
    ),
    case(
        "one-off subnet that is not a subnet id",
        &[("run-task-command", "python manage.py migrate"), ("run-task-subnets", "10.0.0.0/24")],
        2,
        &["input run-task-subnets: `10.0.0.0/24` is not a subnet-… id"],
    ),
    case(
        "one-off command with a shell operator",
        &[("run-task-command", "python manage.py migrate && gunicorn app")],
        2,
        &["`&&` is a shell operator, and no shell runs the command"],
    ),
    // issue 18/22: hostile files (docs helper)
    file_case(
        "named pipe as task definition",
        "aws/pipe.json",
        Body::Fifo,
        &["aws/pipe.json: is not a regular file (a named pipe, socket or device)"],
    ),
    file_case(
        "YAML flow nested 50,000 deep",
        "aws/deep.yaml",
        Body::Generated(deep_flow_yaml),
        &[
            "aws/deep.yaml: invalid YAML: the document nests deeper than 100 levels, the limit",
            "::error file=aws/deep.yaml,line=2,",
        ],
    ),
    file_case(
        "YAML aliases under the repetition limit",
        "aws/aliases.yaml",
        Body::Generated(alias_bomb_task),
        &["aws/aliases.yaml: invalid YAML: the document grows past 10485760 bytes once its aliases (*name) are expanded, the limit for a task-definition file"],
    ),
    file_case(
        "10,000 unset variables, each with its line",
        "aws/unset10k.json",
        Body::Generated(unset_variables),
        &[
            "variable UNSET_0 is not set",
            "variable UNSET_9999 is not set",
            "::error file=aws/unset10k.json,line=40006,",
        ],
    ),
    file_case(
        "nested default with an unset variable inside",
        "aws/nested.json",
        Body::Text(r#"{"family": "dataspace-app", "containerDefinitions": [{"name": "dataspace", "image": "repo:${TAG_NOT_SET:-${NESTED_NOT_SET}}"}]}"#),
        &["aws/nested.json:", "variable NESTED_NOT_SET is not set"],
    ),
    file_case(
        "YAML tag on a nested field, with its line",
        "aws/tag2.yaml",
        Body::Text("family: dataspace-app\ncontainerDefinitions:\n  - name: dataspace\n    image: !Sub repo:v1\n"),
        &["aws/tag2.yaml: yaml tag !Sub at /containerDefinitions/0/image is not supported", "::error file=aws/tag2.yaml,line=4,"],
    ),
    template_case(
        "template with a duplicate key",
        Body::Text("Resources:\n  P:\n    Type: AWS::SSM::Parameter\n  P:\n    Type: AWS::SNS::Topic\n"),
        TEMPLATE_INPUTS,
        &["input stack-template: infra/stack.yml: invalid YAML: duplicate entry with key \"P\"", "::error file=infra/stack.yml,line=4,"],
        &[],
    ),
    template_case(
        "template with an unknown short-form tag",
        Body::Text("Resources:\n  P:\n    Type: AWS::SSM::Parameter\n    Properties:\n      Name: !Bogus x\n"),
        TEMPLATE_INPUTS,
        &["input stack-template: infra/stack.yml: unknown CloudFormation tag !Bogus", "::error file=infra/stack.yml,line=5,"],
        &[],
    ),
    template_case(
        "template under the inline limit whose aliases expand",
        Body::Generated(alias_bomb_template),
        TEMPLATE_INPUTS,
        &["infra/stack.yml: invalid YAML: the document grows past 1000000 bytes once its aliases (*name) are expanded, the limit for a template file"],
        &[],
    ),
    template_case(
        "template as a named pipe",
        Body::Fifo,
        TEMPLATE_INPUTS,
        &["input stack-template: infra/stack.yml: is not a regular file"],
        &[],
    ),
    template_case(
        "stack parameter whose secret value spans lines",
        Body::Text(VALID_TEMPLATE),
        &[
            ("task-definition", "aws/app.json"),
            ("stack-name", "dataspace-infra"),
            ("stack-template", "infra/stack.yml"),
            ("stack-parameters", "Env=first-part\ncanary-tail-of-secret"),
        ],
        &["input stack-parameters, line 2: no `=`; if it continues the value of Env from line 1"],
        &["canary-tail-of-secret"],
    ),
    template_case(
        "stack parameter whose secret's second line holds =",
        Body::Text(VALID_TEMPLATE),
        &[
            ("task-definition", "aws/app.json"),
            ("stack-name", "dataspace-infra"),
            ("stack-template", "infra/stack.yml"),
            ("stack-parameters", "Env=first-part\ncanary-eq-key=canary-eq-value"),
        ],
        &["input stack-parameters: pair 2 has a key that is not a parameter name"],
        &["canary-eq-key", "canary-eq-value"],
    ),
    // --- housekeeping and Terraform outputs (issue 17) ---
    case(
        "keep-revisions below 1",
        &[("keep-revisions", "0")],
        2,
        &["input keep-revisions `0` is not a whole number of revisions from 1 to 10000"],
    ),
    case(
        "keep-revisions not a number",
        &[("keep-revisions", "five")],
        2,
        &["input keep-revisions `five` is not a whole number of revisions"],
    ),
    case(
        "terraform-outputs: an s3 URL without a key",
        &[("terraform-outputs", "s3://my-tf-state")],
        2,
        &["input terraform-outputs `s3://my-tf-state` names no object: give s3://BUCKET/KEY"],
    ),
    case(
        "scheduled-rules: an unknown rule",
        &[("keep-revisions", "1"), ("scheduled-rules", "no-such-rule")],
        2,
        &["EventBridge rule `no-such-rule` was not found on event bus `default`"],
    ),
    case(
        "schedules: an unknown schedule",
        &[("keep-revisions", "1"), ("schedules", "reports/no-such-schedule")],
        2,
        &["EventBridge Scheduler schedule `no-such-schedule` was not found in group `reports`"],
    ),
];

/// Cases that also pass command-line arguments (a command, `--flags`): flags win over the
/// inputs, and a command and a mode that disagree are refused before anything else.
const CLI_CASES: &[(&[&str], Case)] = &[
    (
        &["deploy", "--mode", "plan"],
        case(
            "command deploy with --mode plan",
            &[],
            2,
            &["command `deploy` and input mode `plan` (--mode) disagree"],
        ),
    ),
    (
        &["plan"],
        case(
            "command plan with input mode deploy",
            &[("mode", "deploy")],
            2,
            &["command `plan` and input mode `deploy` (INPUT_MODE) disagree"],
        ),
    ),
    (
        &["deploy"],
        case(
            "command deploy with input mode plan",
            &[("mode", "plan")],
            2,
            &["command `deploy` and input mode `plan` (INPUT_MODE) disagree"],
        ),
    ),
    (
        &["plan", "--mode", "destroy"],
        case(
            "bad --mode next to a command",
            &[],
            2,
            &["input mode `destroy` is not one of deploy, plan"],
        ),
    ),
    (
        &["verify"],
        case(
            "bad input mode next to a command",
            &[("mode", "destroy")],
            2,
            &["input mode `destroy` is not one of deploy, plan"],
        ),
    ),
    (
        &["--wait-for-minutes", "soon"],
        case(
            "bad flag over a good input",
            &[("wait-for-minutes", "5")],
            2,
            &["input wait-for-minutes `soon` is not a number"],
        ),
    ),
    (
        &["run-task"],
        case(
            "command run-task without a command to run",
            &[],
            2,
            &["command run-task needs input run-task-command"],
        ),
    ),
    (
        &["run-task", "--run-task-command", "python manage.py migrate"],
        case(
            "command run-task given a task-definition file",
            &[],
            2,
            &["command run-task runs a registered task definition and registers none: `aws/app.json` is a file"],
        ),
    ),
    (
        &["plan", "--service", "${APP_SERVICE}"],
        Case {
            name: "unsubstituted --service",
            inputs: &[],
            file: None,
            env: &[("APP_SERVICE", "dataspace-app")],
            code: 2,
            says: &["input service: `${APP_SERVICE}` is not an ECS service name"],
            never: &["input task-definition"],
        },
    ),
];

/// Cases with a service-definition file: written at the path before the run; the case's
/// inputs name it.
const DEFINITION_CASES: &[(&str, &str, Case)] = &[
    (
        "aws/app-service.json",
        "{\n  \"launchtype\": \"FARGATE\"\n}\n",
        case(
            "service definition: a field that does not exist",
            &[("service-definition", "aws/app-service.json")],
            2,
            &[
                "aws/app-service.json: field `launchtype` is not a CreateService field: did you mean `launchType`?",
                "file=aws/app-service.json,line=2",
            ],
        ),
    ),
    (
        "aws/app-service.yaml",
        "desiredCount: two\n",
        case(
            "service definition: a wrong type",
            &[("service-definition", "aws/app-service.yaml")],
            2,
            &["field `desiredCount` must be a whole number, not a string"],
        ),
    ),
    (
        "aws/app-service.json",
        r#"{"launchType": "FARGATE", "capacityProviderStrategy": [{"capacityProvider": "FARGATE_SPOT"}]}"#,
        case(
            "service definition: launchType with a capacity-provider strategy",
            &[("service-definition", "aws/app-service.json")],
            2,
            &["`launchType` and `capacityProviderStrategy` exclude each other"],
        ),
    ),
    (
        "aws/app-service.json",
        r#"{"launchType": "EC2"}"#,
        case(
            "service definition: an attribute UpdateService cannot change",
            &[("service-definition", "aws/app-service.json")],
            2,
            &["field `launchType` is EC2 in the definition but FARGATE on service `dataspace-app`, and UpdateService cannot change it"],
        ),
    ),
    (
        "aws/app-service.json",
        r#"{"taskDefinition": "dataspace-app:1", "cluster": "dataspace-dev"}"#,
        case(
            "service definition: names what the inputs give",
            &[("service-definition", "aws/app-service.json")],
            2,
            &[
                "field `taskDefinition` is not given in a service definition",
                "field `cluster` is not given in a service definition",
            ],
        ),
    ),
    (
        "aws/app-service.json",
        r#"{"networkConfiguration": {"awsvpcConfiguration": {"securityGroups": ["sg-1"]}}}"#,
        case(
            "service definition: subnets missing",
            &[("service-definition", "aws/app-service.json")],
            2,
            &["field `networkConfiguration.awsvpcConfiguration.subnets` is required here"],
        ),
    ),
    (
        "aws/new-service.json",
        r#"{"launchType": "FARGATE"}"#,
        case(
            "a new awsvpc service without a network configuration",
            &[
                ("services", "dataspace-new=aws/app.json"),
                ("service-definitions", "dataspace-new=aws/new-service.json"),
            ],
            2,
            &["creating the service needs `networkConfiguration.awsvpcConfiguration`"],
        ),
    ),
    (
        "aws/new-service.json",
        "{}",
        case(
            "a service definition for a service not in the run",
            &[("service-definitions", "dataspace-nope=aws/new-service.json")],
            2,
            &["input service-definitions, line 1: service `dataspace-nope` is not deployed by this run"],
        ),
    ),
    (
        "aws/otel-service.json",
        "{}",
        case(
            "otel-service-definition without otel-service",
            &[
                ("otel-service", ""),
                ("otel-task-definition", ""),
                ("otel-service-definition", "aws/otel-service.json"),
            ],
            2,
            &["input otel-service-definition `aws/otel-service.json` is given without otel-service"],
        ),
    ),
    (
        "infra/outputs.json",
        "{ \"db_host\": { \"value\": ",
        case(
            "terraform-outputs: a file that does not parse",
            &[("terraform-outputs", "infra/outputs.json"), ("keep-revisions", "1")],
            2,
            &["input terraform-outputs `infra/outputs.json`: is not JSON (line 1"],
        ),
    ),
    (
        "infra/terraform.tfstate",
        "{\"version\": 4, \"terraform_version\": \"1.9.5\", \"serial\": 1, \"resources\": []}",
        case(
            "terraform-outputs: a state file without outputs",
            &[("terraform-outputs", "infra/terraform.tfstate")],
            2,
            &["is a state file without `outputs`"],
        ),
    ),
    (
        "infra/outputs.json",
        "{\"db_host\": {\"value\": \"db.internal\", \"type\": \"string\", \"sensitive\": false}}",
        Case {
            name: "terraform-outputs: a reference to a missing output",
            inputs: &[("terraform-outputs", "infra/outputs.json"), ("keep-revisions", "1")],
            file: Some(("aws/app-tf.json", Body::Text(r#"{"family": "dataspace-app", "containerDefinitions": [{"name": "dataspace", "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/dataspace:v1", "environment": [{"name": "DB", "value": "${TFOUT_db_hostname}"}, {"name": "R", "value": "${TFOUT_redis}"}]}]}"#))),
            env: &[],
            code: 2,
            says: &[
                "variable TFOUT_db_hostname is not an output of the Terraform state infra/outputs.json (it has TFOUT_db_host)",
                "variable TFOUT_redis is not an output",
            ],
            never: &[],
        },
    ),
];

/// Compose files (issue 16): written at `docker-compose.yaml` and given as input
/// compose-file over the valid base; each names the file, the line and the service, and
/// nothing is registered.
const COMPOSE_CASES: &[(&str, &str, Case)] = &[
    (
        "docker-compose.yaml",
        "services:\n  web:\n    image: [nginx\n",
        case(
            "compose: malformed YAML",
            &[("compose-file", "docker-compose.yaml")],
            2,
            &["docker-compose.yaml: invalid YAML", "file=docker-compose.yaml,line="],
        ),
    ),
    (
        "docker-compose.yaml",
        "name: shop\nservices: {}\n",
        case(
            "compose: no services",
            &[("compose-file", "docker-compose.yaml")],
            2,
            &["docker-compose.yaml (line 2): key `services`: the compose file has no services"],
        ),
    ),
    (
        "docker-compose.yaml",
        "services:\n  web:\n    image: nginx\nservice:\n  web: {}\n",
        case(
            "compose: an unknown top-level key",
            &[("compose-file", "docker-compose.yaml")],
            2,
            &["docker-compose.yaml (line 4): key `service`: `service` is not a top-level compose key", "file=docker-compose.yaml,line=4"],
        ),
    ),
    (
        "docker-compose.yaml",
        "services:\n  web:\n    ports: [\"80\"]\n",
        case(
            "compose: a service with neither image nor build",
            &[("compose-file", "docker-compose.yaml")],
            2,
            &["docker-compose.yaml (line 2): service `web`: has neither `image` nor `build`"],
        ),
    ),
    (
        "docker-compose.yaml",
        "services:\n  web:\n    build: .\n",
        case(
            "compose: build without image",
            &[("compose-file", "docker-compose.yaml"), ("compose-services", "web")],
            2,
            &["docker-compose.yaml (line 3): service `web`, key `build`: has `build` but no `image`"],
        ),
    ),
    (
        "docker-compose.yaml",
        "services:\n  web:\n    image: nginx\n    ports:\n      - \"8000-8010:8000-8010\"\n",
        case(
            "compose: a port range",
            &[("compose-file", "docker-compose.yaml")],
            2,
            &["docker-compose.yaml (line 5): service `web`, key `ports.0`: port range", "file=docker-compose.yaml,line=5"],
        ),
    ),
    (
        "docker-compose.yaml",
        "services:\n  web:\n    image: nginx\n    deploy:\n      resources:\n        limits:\n          memory: 512\n",
        case(
            "compose: a memory value without a unit",
            &[("compose-file", "docker-compose.yaml")],
            2,
            &["docker-compose.yaml (line 7): service `web`, key `deploy.resources.limits.memory`", "`512` has no unit"],
        ),
    ),
    (
        "docker-compose.yaml",
        "services:\n  web:\n    image: nginx:${COMPOSE_TAG}\n    environment:\n      HOST: $COMPOSE_HOST\n",
        case(
            "compose: unset variables",
            &[("compose-file", "docker-compose.yaml")],
            2,
            &[
                "docker-compose.yaml (line 3): service `web`: variable COMPOSE_TAG is not set",
                "docker-compose.yaml (line 5): service `web`: variable COMPOSE_HOST is not set",
            ],
        ),
    ),
    (
        "docker-compose.yaml",
        "services:\n  web:\n    image: nginx:${COMPOSE_TAG:?build and push the image first}\n",
        case(
            "compose: a required variable unset shows its message",
            &[("compose-file", "docker-compose.yaml")],
            2,
            &["docker-compose.yaml (line 3): service `web`: variable COMPOSE_TAG is not set, and the file requires it: build and push the image first"],
        ),
    ),
    (
        "docker-compose.yaml",
        "services:\n  web:\n    image: nginx:${COMPOSE_TAG:?ask for ${COMPOSE_DB_PASSWORD}}\n",
        Case {
            name: "compose: a required variable's message is shown as written, never expanded",
            inputs: &[("compose-file", "docker-compose.yaml")],
            file: None,
            env: &[("COMPOSE_DB_PASSWORD", "canary-required-message-pw-5077")],
            code: 2,
            says: &["docker-compose.yaml (line 3): service `web`: variable COMPOSE_TAG is not set, and the file requires it: ask for ${COMPOSE_DB_PASSWORD}"],
            never: &["canary-required-message-pw-5077"],
        },
    ),
    (
        "docker-compose.yaml",
        "services:\n  a:\n    image: x\n    depends_on: [b]\n  b:\n    image: x\n    depends_on: [a]\n",
        case(
            "compose: a cycle in depends_on",
            &[("compose-file", "docker-compose.yaml")],
            2,
            &["docker-compose.yaml (line 4): service `a`, key `depends_on`: depends_on makes a cycle (a → b → a)"],
        ),
    ),
    (
        "docker-compose.yaml",
        "services:\n  web:\n    image: nginx\nx-aws-cloudformation:\n  Resources: {}\n",
        case(
            "compose: the retired integration's x-aws-cloudformation",
            &[("compose-file", "docker-compose.yaml")],
            2,
            &["docker-compose.yaml (line 4): key `x-aws-cloudformation`: `x-aws-cloudformation` is not deployed", "input stack-template"],
        ),
    ),
    (
        "docker-compose.yaml",
        "services:\n  web:\n    image: nginx\n    volumes:\n      - ./data:/data\n",
        case(
            "compose: a host bind mount",
            &[("compose-file", "docker-compose.yaml")],
            2,
            &["docker-compose.yaml (line 4): service `web`, key `volumes`: key `volumes` cannot be mapped: volumes are not mapped: a host bind mount has no host on Fargate"],
        ),
    ),
    (
        "docker-compose.yaml",
        "services:\n  web:\n    image: nginx\n    deploy:\n      replicas: 2\n  router:\n    image: fluent\n    x-ecs:\n      task: web\n    deploy:\n      replicas: 3\n",
        case(
            "compose: a sidecar's deploy.replicas",
            &[("compose-file", "docker-compose.yaml")],
            2,
            &["docker-compose.yaml (line 11): service `router`, key `deploy.replicas`: deploy.replicas is the task's desired count, and `web` leads this task"],
        ),
    ),
    (
        "docker-compose.yaml",
        "services:\n  web:\n    image: nginx\n  router:\n    image: fluent\n    x-ecs:\n      task: web\n      task_role: arn:aws:iam::123456789012:role/r\n",
        case(
            "compose: a sidecar's task-level x-ecs key",
            &[("compose-file", "docker-compose.yaml")],
            2,
            &["docker-compose.yaml (line 8): service `router`, key `x-ecs.task_role`: x-ecs.task_role is the task's: set it on `web`"],
        ),
    ),
    (
        "docker-compose.yaml",
        "services:\n  web:\n    image: nginx\n    cap_add: SYS_PTRACE\n",
        case(
            "compose: cap_add given as a string",
            &[("compose-file", "docker-compose.yaml")],
            2,
            &["docker-compose.yaml (line 4): service `web`, key `cap_add`: `cap_add` must be a list of capability names"],
        ),
    ),
    (
        "docker-compose.yaml",
        "services:\n  web:\n    image: nginx\n    logging:\n      driver: awslogs\n      options:\n        awslogs-group: g\n        awslogs-region: us-east-1\n        awslogs-create-group: true\n",
        case(
            "compose: a log option that is not a string or a number",
            &[("compose-file", "docker-compose.yaml")],
            2,
            &["docker-compose.yaml (line 9): service `web`, key `logging.options.awslogs-create-group`: log option `awslogs-create-group` is a boolean"],
        ),
    ),
    (
        "docker-compose.yaml",
        "services:\n  web:\n    image: nginx\nsecrets:\n  db:\n    x-ecs:\n      valuefrom: arn:aws:ssm:us-east-1:123456789012:parameter/db\n",
        case(
            "compose: a top-level secret's misspelt x-ecs key",
            &[("compose-file", "docker-compose.yaml")],
            2,
            &["docker-compose.yaml (line 7): key `secrets.db.x-ecs.valuefrom`: `valuefrom` is not an x-ecs key of a secret"],
        ),
    ),
    (
        "docker-compose.yaml",
        "services:\n  web:\n    image: nginx\n",
        case(
            "compose-services: a service the file does not have",
            &[("compose-file", "docker-compose.yaml"), ("compose-services", "api")],
            2,
            &["input compose-services: `api` is not a service of docker-compose.yaml that leads a task: name one of web"],
        ),
    ),
];

/// The base task-definition files: valid, and equal to what the seeded services run.
fn base_files(run: Run) -> Run {
    let mut app = seed::app_task_definition("${ECR_REGISTRY}/dataspace");
    app["containerDefinitions"][0]["image"] = json!("${ECR_REGISTRY}/dataspace:${IMAGE_TAG}");
    let otel = seed::otel_task_definition(&seed::repo_uri(seed::OTEL_REPO));
    run.file("aws/app.json", &serde_json::to_string_pretty(&app).unwrap())
        .file(
            "aws/otel.json",
            &serde_json::to_string_pretty(&otel).unwrap(),
        )
}

/// The valid DataSpace step every case starts from.
fn base(moto: &Moto) -> Run {
    base_files(Run::new(&moto.url()))
        .input("cluster", CLUSTER)
        .input("service", seed::APP_SERVICE)
        .input("task-definition", "aws/app.json")
        .input("otel-service", seed::OTEL_SERVICE)
        .input("otel-task-definition", "aws/otel.json")
        .input("poll-interval-seconds", "0.2")
        .env(
            "ECR_REGISTRY",
            "123456789012.dkr.ecr.us-east-1.amazonaws.com",
        )
        .env("IMAGE_TAG", "v1")
}

fn write_body(root: &Path, rel: &str, body: &Body) {
    let path = root.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    match body {
        Body::Text(t) => std::fs::write(&path, t).unwrap(),
        Body::Bytes(b) => std::fs::write(&path, b).unwrap(),
        Body::Huge => {
            let mut text = vec![b' '; 10 * 1024 * 1024 - 1];
            text.extend_from_slice(b"{}");
            std::fs::write(&path, text).unwrap();
        }
        Body::Nested(depth) => std::fs::write(
            &path,
            format!(
                r#"{{"family": "dataspace-app", "containerDefinitions": {}{}}}"#,
                "[".repeat(*depth),
                "]".repeat(*depth)
            ),
        )
        .unwrap(),
        Body::Dir => std::fs::create_dir_all(&path).unwrap(),
        Body::Symlink(target) => std::os::unix::fs::symlink(target, &path).unwrap(),
        Body::Fifo => assert!(std::process::Command::new("mkfifo")
            .arg(&path)
            .status()
            .unwrap()
            .success()),
        Body::Generated(make) => std::fs::write(&path, make()).unwrap(),
    }
}

/// Everything in AWS a bad input must not touch, in both clusters.
fn state(moto: &Moto) -> Value {
    json!({
        (CLUSTER): moto.snapshot(CLUSTER),
        (OTHER_CLUSTER): moto.snapshot(OTHER_CLUSTER),
    })
}

#[test]
fn bad_inputs_fail_clearly_and_change_nothing() {
    let moto = Moto::start_with(MotoOptions::default().service_running(1));
    let s = seed_dataspace(&moto);
    moto.ecs("CreateCluster", json!({ "clusterName": OTHER_CLUSTER }));
    let worker = seed::register(&moto, &seed::app_task_definition(&s.app_repo_uri));
    moto.ecs(
        "CreateService",
        s.service_body(OTHER_CLUSTER, OTHER_SERVICE, &worker),
    );
    for (name, extra) in [
        (
            "dataspace-bluegreen",
            json!({ "deploymentController": { "type": "CODE_DEPLOY" } }),
        ),
        ("dataspace-old", json!({})),
    ] {
        let mut body = s.service_body(CLUSTER, name, &s.app_task_definition_arn);
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        moto.ecs("CreateService", body);
    }
    moto.ecs(
        "DeleteService",
        json!({ "cluster": CLUSTER, "service": "dataspace-old", "force": true }),
    );
    let mut before = state(&moto);
    assert_eq!(
        before[OTHER_CLUSTER]["services"][OTHER_SERVICE]["taskDefinition"],
        json!(worker)
    );

    // Control: the base inputs are valid (plan changes nothing and succeeds), so each case
    // below fails because of its one defect.
    let control = base(&moto).input("mode", "plan").run();
    control.assert_code(0);
    assert_eq!(
        control.output("result"),
        "planned",
        "{}",
        control.all_text()
    );
    assert_eq!(before, state(&moto), "the control run changed AWS");

    // Every case runs, and every failing one is listed, so one product change that breaks
    // several rows shows them all at once.
    let mut failures: Vec<String> = Vec::new();
    let mut names = std::collections::BTreeSet::new();
    let no_args: &[&str] = &[];
    let cases = CASES
        .iter()
        .map(|c| (no_args, None, c))
        .chain(CLI_CASES.iter().map(|(args, c)| (*args, None, c)))
        .chain(
            DEFINITION_CASES
                .iter()
                .chain(COMPOSE_CASES)
                .map(|(path, text, c)| (no_args, Some((*path, *text)), c)),
        );
    for (args, definition, c) in cases {
        assert!(names.insert(c.name), "case name {:?} is used twice", c.name);
        let mut run = base(&moto);
        for a in args {
            run = run.arg(a);
        }
        if let Some((rel, text)) = definition {
            write_body(run.workspace(), rel, &Body::Text(text));
        }
        if let Some((rel, body)) = &c.file {
            write_body(run.workspace(), rel, body);
            run = run.input("task-definition", rel);
        }
        for (k, v) in c.inputs {
            run = run.input(k, v);
        }
        for (k, v) in c.env {
            run = run.env(k, v);
        }
        let out = run.run();
        let mut wrong = Vec::new();
        if out.code != c.code {
            wrong.push(format!("exit code {} (expected {})", out.code, c.code));
        }
        let printed = format!("{}\n{}", out.stdout, out.stderr);
        for fragment in c.says {
            if !printed.contains(fragment) {
                wrong.push(format!("the message lacks {fragment:?}"));
            }
        }
        if out.outputs.get("result").map(String::as_str) != Some("failed") {
            wrong.push(format!("output result is {:?}", out.outputs.get("result")));
        }
        let all = out.all_text();
        for secret in c.never.iter().chain([&SECRET_ACCESS_KEY]) {
            if all.contains(secret) {
                wrong.push(format!("{secret:?} was printed"));
            }
        }
        if !out.summary.contains("invalid input, nothing was changed") {
            wrong.push("the summary does not say nothing was changed".into());
        }
        let after = state(&moto);
        if after != before {
            wrong.push(format!("AWS changed: before {before:#}\nafter {after:#}"));
            before = after;
        }
        if !wrong.is_empty() {
            failures.push(format!(
                "case {:?}: {}\n{}",
                c.name,
                wrong.join("; "),
                out.all_text()
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} bad-input cases failed:\n\n{}",
        failures.len(),
        CASES.len() + CLI_CASES.len() + DEFINITION_CASES.len() + COMPOSE_CASES.len(),
        failures.join("\n\n")
    );
    let count = CASES.len() + CLI_CASES.len() + DEFINITION_CASES.len() + COMPOSE_CASES.len();
    println!("{count} bad-input cases passed");
    // libtest hides a passing test's output: scripts/test.sh prints this file at the end.
    let _ = std::fs::write(
        std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("bad-input-cases"),
        count.to_string(),
    );
}
