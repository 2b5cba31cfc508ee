//! No drift between the code's table of inputs and outputs (`ecs_deploy::inputs`), the
//! shipped `action.yml`, the README's tables, the example workflow and CI's container run; and
//! the container contract: the binary, started the way the runner starts a container action
//! (no arguments, every declared input as `INPUT_*` with action.yml's defaults, no AWS at all),
//! renders a task definition, and `--version` names the crate's version.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use ecs_deploy::inputs::{InputSpec, INPUTS, OUTPUTS};
use serde_json::Value;
use serde_yaml_ng::Value as Yaml;

use crate::support::Run;

fn repo_file(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(rel)
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(repo_file(rel)).unwrap_or_else(|e| panic!("reading {rel}: {e}"))
}

fn yaml(rel: &str) -> Yaml {
    serde_yaml_ng::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel} is not YAML: {e}"))
}

fn action() -> Yaml {
    yaml("action.yml")
}

fn str_of<'a>(v: &'a Yaml, what: &str) -> &'a str {
    v.as_str()
        .unwrap_or_else(|| panic!("{what} is not a string: {v:?}"))
}

/// A mapping of action.yml (`inputs` or `outputs`) as name → its own mapping, in file order.
fn section(action: &Yaml, key: &str) -> Vec<(String, Yaml)> {
    action
        .get(key)
        .and_then(Yaml::as_mapping)
        .unwrap_or_else(|| panic!("action.yml has no `{key}:` mapping"))
        .iter()
        .map(|(k, v)| (str_of(k, &format!("a key of {key}")).to_string(), v.clone()))
        .collect()
}

fn names_diff(what: &str, code: &BTreeSet<&str>, file: &BTreeSet<&str>) -> Vec<String> {
    let mut problems = Vec::new();
    for n in code.difference(file) {
        problems.push(format!(
            "{what} `{n}` is in src/inputs.rs but not in action.yml"
        ));
    }
    for n in file.difference(code) {
        problems.push(format!(
            "{what} `{n}` is in action.yml but not in src/inputs.rs"
        ));
    }
    problems
}

#[test]
fn action_inputs_match_the_code_exactly() {
    let action = action();
    let declared = section(&action, "inputs");
    let file_names: BTreeSet<&str> = declared.iter().map(|(n, _)| n.as_str()).collect();
    let code_names: BTreeSet<&str> = INPUTS.iter().map(|i| i.name).collect();
    let mut problems = names_diff("input", &code_names, &file_names);
    assert_eq!(
        declared.len(),
        file_names.len(),
        "action.yml declares an input twice"
    );
    let by_name: BTreeMap<&str, &Yaml> = declared.iter().map(|(n, v)| (n.as_str(), v)).collect();
    for spec in INPUTS {
        let Some(entry) = by_name.get(spec.name) else {
            continue;
        };
        let description = entry.get("description").map(|d| str_of(d, "a description"));
        if description != Some(spec.description) {
            problems.push(format!(
                "input `{}`: description in action.yml is {description:?}, the code says {:?}",
                spec.name, spec.description
            ));
        }
        let default = entry.get("default").map(|d| str_of(d, "a default"));
        if default != spec.default {
            problems.push(format!(
                "input `{}`: default in action.yml is {default:?}, the code says {:?}",
                spec.name, spec.default
            ));
        }
        // The runner never enforces `required`; the binary validates, so the flag would only
        // mislead (and a `required: true` input with a default is a contradiction).
        if entry.get("required").is_some() {
            problems.push(format!(
                "input `{}` has `required:` in action.yml: drop it, the binary validates inputs",
                spec.name
            ));
        }
        let keys: Vec<&str> = entry
            .as_mapping()
            .map(|m| m.keys().filter_map(Yaml::as_str).collect())
            .unwrap_or_default();
        for k in keys {
            if !["description", "default", "required"].contains(&k) {
                problems.push(format!("input `{}` has an unexpected key `{k}`", spec.name));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert_eq!(
        INPUTS
            .iter()
            .find(|i| i.name == "github-token")
            .and_then(|i| i.default),
        Some("${{ github.token }}"),
        "github-token must default to the job's token"
    );
}

#[test]
fn action_outputs_match_the_code_exactly() {
    let action = action();
    let declared = section(&action, "outputs");
    let file_names: BTreeSet<&str> = declared.iter().map(|(n, _)| n.as_str()).collect();
    let code_names: BTreeSet<&str> = OUTPUTS.iter().map(|(n, _)| *n).collect();
    let mut problems = names_diff("output", &code_names, &file_names);
    let by_name: BTreeMap<&str, &Yaml> = declared.iter().map(|(n, v)| (n.as_str(), v)).collect();
    for (name, description) in OUTPUTS {
        let Some(entry) = by_name.get(name) else {
            continue;
        };
        let got = entry.get("description").map(|d| str_of(d, "a description"));
        if got != Some(*description) {
            problems.push(format!(
                "output `{name}`: description in action.yml is {got:?}, the code says {description:?}"
            ));
        }
        // A docker action's outputs are what the container writes to GITHUB_OUTPUT; `value:`
        // belongs to composite actions only.
        if entry.get("value").is_some() {
            problems.push(format!(
                "output `{name}` has `value:`, which a docker action cannot use"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn action_runs_the_released_image_of_this_version() {
    let action = action();
    assert!(action
        .get("name")
        .and_then(Yaml::as_str)
        .is_some_and(|s| !s.is_empty()));
    assert!(action
        .get("description")
        .and_then(Yaml::as_str)
        .is_some_and(|s| !s.is_empty()));
    let branding = action.get("branding").expect("action.yml has branding");
    assert!(branding.get("icon").and_then(Yaml::as_str).is_some());
    assert!(branding.get("color").and_then(Yaml::as_str).is_some());
    let runs = action.get("runs").expect("action.yml has runs");
    assert_eq!(runs.get("using").and_then(Yaml::as_str), Some("docker"));
    let image = str_of(runs.get("image").expect("runs.image"), "runs.image");
    // Either the version the source tree will be released as, or (on a release commit) that
    // version pinned by digest; never `Dockerfile`, which would compile Rust on every run.
    let prefix = format!(
        "docker://ghcr.io/ecs-deploy/ecs-deploy:v{}",
        env!("CARGO_PKG_VERSION")
    );
    let rest = image.strip_prefix(&prefix).unwrap_or_else(|| {
        panic!("runs.image is {image:?}: it must name the released image {prefix} (Cargo.toml's version)")
    });
    assert!(
        rest.is_empty()
            || rest
                .strip_prefix("@sha256:")
                .is_some_and(|d| d.len() == 64 && d.bytes().all(|b| b.is_ascii_hexdigit())),
        "runs.image {image:?}: after the version only `@sha256:<64 hex>` may follow"
    );
    // The release workflow finds the line to rewrite by this exact shape.
    let text = read("action.yml");
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| l.starts_with("  image: docker://"))
        .collect();
    assert_eq!(
        lines.len(),
        1,
        "release.yml rewrites the one line `  image: docker://…` of action.yml: {lines:?}"
    );
}

/// The backticked names in the first cell of the table rows of README's section `heading`.
fn readme_table_names(readme: &str, heading: &str) -> Vec<String> {
    let mut in_section = false;
    let mut names = Vec::new();
    for line in readme.lines() {
        if let Some(title) = line.strip_prefix("## ") {
            in_section = title.trim().eq_ignore_ascii_case(heading);
            continue;
        }
        if !in_section || !line.trim_start().starts_with('|') {
            continue;
        }
        let first = line
            .trim_start()
            .trim_start_matches('|')
            .split('|')
            .next()
            .unwrap_or("");
        let first = first.trim();
        if let Some(name) = first.strip_prefix('`').and_then(|s| s.strip_suffix('`')) {
            names.push(name.to_string());
        }
    }
    names
}

#[test]
fn readme_tables_list_every_input_and_output() {
    let path = repo_file("README.md");
    let readme = std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "README.md is missing ({e}): it must have `## Inputs` and `## Outputs` sections with one table row per name, first cell `name` in backticks"
        )
    });
    let mut problems = Vec::new();
    for (heading, code) in [
        ("Inputs", INPUTS.iter().map(|i| i.name).collect::<Vec<_>>()),
        ("Outputs", OUTPUTS.iter().map(|(n, _)| *n).collect()),
    ] {
        let listed = readme_table_names(&readme, heading);
        for name in &code {
            match listed.iter().filter(|n| n == name).count() {
                1 => {}
                0 => problems.push(format!(
                    "README.md `## {heading}` has no table row for `{name}`"
                )),
                n => problems.push(format!("README.md `## {heading}` lists `{name}` {n} times")),
            }
        }
        for name in &listed {
            if !code.contains(&name.as_str()) {
                problems.push(format!(
                    "README.md `## {heading}` lists `{name}`, which src/inputs.rs does not have"
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn steps_using_this_action(workflow: &Yaml) -> Vec<Yaml> {
    let mut found = Vec::new();
    for (_, job) in workflow
        .get("jobs")
        .and_then(Yaml::as_mapping)
        .expect("a workflow has jobs")
    {
        for step in job
            .get("steps")
            .and_then(Yaml::as_sequence)
            .into_iter()
            .flatten()
        {
            let uses = step.get("uses").and_then(Yaml::as_str).unwrap_or("");
            if uses.starts_with("ecs-deploy/ecs-deploy@") || uses == "./" {
                found.push(step.clone());
            }
        }
    }
    found
}

#[test]
fn example_workflow_uses_only_known_inputs() {
    let rel = "examples/dataspace/.github/workflows/deploy.yml";
    let steps = steps_using_this_action(&yaml(rel));
    assert!(
        !steps.is_empty(),
        "{rel} has no `uses: ecs-deploy/ecs-deploy@…` step"
    );
    let known: BTreeSet<&str> = INPUTS.iter().map(|i| i.name).collect();
    let mut problems = Vec::new();
    for step in &steps {
        let with = step
            .get("with")
            .and_then(Yaml::as_mapping)
            .unwrap_or_else(|| panic!("{rel}: a step of this action has no `with:`"));
        for key in with.keys() {
            let key = str_of(key, "a `with:` key");
            if !known.contains(key) {
                problems.push(format!(
                    "{rel}: input `{key}` is not an input of the action"
                ));
            }
        }
        for required in ["cluster", "service", "task-definition"] {
            if !with.contains_key(required) {
                problems.push(format!("{rel}: the deploy step lacks `{required}`"));
            }
        }
        // The workflow sits where it would in the DataSpace repository: its task-definition
        // paths are relative to examples/dataspace, and those files are the example's own.
        for key in [
            "task-definition",
            "otel-task-definition",
            "service-definition",
            "otel-service-definition",
        ] {
            if let Some(path) = with.get(key).and_then(Yaml::as_str) {
                if !repo_file("examples/dataspace").join(path).is_file() {
                    problems.push(format!(
                        "{rel}: `{key}: {path}` is not a file under examples/dataspace"
                    ));
                }
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn image_smoke_uses_only_known_inputs() {
    // scripts/image-smoke.sh runs the image with every input of action.yml (and fails on an
    // undeclared one at run time); the inputs it sets itself, `GIVEN[name]=…`, are checked here.
    let script = read("scripts/image-smoke.sh");
    let known: BTreeSet<&str> = INPUTS.iter().map(|i| i.name).collect();
    let used: BTreeSet<&str> = script
        .split("GIVEN[")
        .skip(1)
        .filter_map(|rest| rest.split_once(']').map(|(name, _)| name))
        .filter(|name| {
            !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        })
        .collect();
    assert!(
        !used.is_empty(),
        "scripts/image-smoke.sh sets no input of its own"
    );
    let unknown: Vec<&&str> = used.iter().filter(|u| !known.contains(**u)).collect();
    assert!(
        unknown.is_empty(),
        "scripts/image-smoke.sh sets unknown inputs: {unknown:?}"
    );
}

#[test]
fn binary_reports_the_crate_version() {
    let out = Command::new(env!("CARGO_BIN_EXE_ecs-deploy"))
        .arg("--version")
        .env_clear()
        .output()
        .expect("running ecs-deploy --version");
    assert!(out.status.success(), "--version failed: {out:?}");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.trim(),
        format!("ecs-deploy {}", env!("CARGO_PKG_VERSION")),
        "--version printed {text:?}"
    );
}

/// The runner gives a container action every input that action.yml declares: the value from
/// `with:`, else the declared default, else an empty string.
fn as_the_runner_would(mut run: Run, with: &[(&str, &str)]) -> Run {
    for (name, entry) in section(&action(), "inputs") {
        let value = with
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.to_string())
            .or_else(|| {
                entry
                    .get("default")
                    .and_then(Yaml::as_str)
                    .map(|d| d.replace("${{ github.token }}", "ghs_containercontracttoken0000"))
            })
            .unwrap_or_default();
        run = run.input(&name, &value);
    }
    run
}

#[test]
fn container_contract_render_needs_no_aws_and_no_arguments() {
    let mut run = Run::new("http://127.0.0.1:9");
    // Nothing AWS: no endpoint, no credentials, no region. Render must not need any of it.
    for k in [
        "AWS_ENDPOINT_URL",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_REGION",
        "AWS_EC2_METADATA_DISABLED",
    ] {
        run = run.without_env(k);
    }
    let run = as_the_runner_would(
        run.file(
            "aws/task-definition.json",
            &read("examples/dataspace/aws/task-definition.json"),
        )
        .env(
            "ECR_REGISTRY",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com",
        )
        .env("ECR_REPOSITORY", "dataspace")
        .env("IMAGE_TAG", "8f14e45")
        .env("ENVIRONMENT", "dev")
        .env("DB_NAME", "dataspace")
        .file(
            "aws/cloudformation/dataspace-infrastructure.yml",
            &read("examples/dataspace/aws/cloudformation/dataspace-infrastructure.yml"),
        )
        .env("AWS_DEFAULT_REGION", "eu-west-1")
        // Only for the file's `${AWS_REGION}` placeholder below; AWS itself is never called.
        .env("AWS_REGION", "eu-west-1"),
        &[
            ("mode", "render"),
            ("task-definition", "aws/task-definition.json"),
            // Its outputs are unknown without AWS: they render as named placeholders.
            ("stack-name", "dataspace-dev-infrastructure"),
            (
                "stack-template",
                "aws/cloudformation/dataspace-infrastructure.yml",
            ),
        ],
    );
    assert_eq!(run.env_var("INPUT_MODE"), Some("render"));
    assert_eq!(run.env_var("INPUT_CLUSTER"), Some(""));
    let out = run.run();
    out.assert_code(0);
    let doc: Value = serde_json::from_str(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "render did not print one JSON document ({e})\n{}",
            out.all_text()
        )
    });
    assert_eq!(doc["family"], "dataspace-app-dev");
    assert_eq!(doc["executionRoleArn"], "(stack output ExecutionRoleArn)");
    let container = &doc["containerDefinitions"][0];
    assert_eq!(
        container["image"],
        "123456789012.dkr.ecr.eu-west-1.amazonaws.com/dataspace:8f14e45"
    );
    let env: BTreeMap<&str, &str> = container["environment"]
        .as_array()
        .expect("environment list")
        .iter()
        .map(|e| (e["name"].as_str().unwrap(), e["value"].as_str().unwrap()))
        .collect();
    assert_eq!(env["ENVIRONMENT"], "dev");
    assert_eq!(env["DB_HOST"], "(stack output DBHost)");
    assert_eq!(
        env["DJANGO_ALLOWED_HOSTS"], "*",
        "`${{DJANGO_ALLOWED_HOSTS:-*}}` takes its default"
    );
    assert_eq!(
        container["logConfiguration"]["options"]["awslogs-region"],
        "eu-west-1"
    );
    assert!(
        !out.all_text().contains("ghs_containercontracttoken0000"),
        "the token leaked:\n{}",
        out.all_text()
    );
}

// --- generated parts ---------------------------------------------------------------------
//
// The `inputs:` and `outputs:` blocks of action.yml and the README's two tables are generated
// from src/inputs.rs (rust-analyzer's sourcegen style): the test below rewrites whatever is
// out of date and then fails, naming what it rewrote, so the fix is to commit the result.

const README_INPUTS: (&str, &str) = ("<!-- inputs:start -->", "<!-- inputs:end -->");
const README_OUTPUTS: (&str, &str) = ("<!-- outputs:start -->", "<!-- outputs:end -->");
const GENERATED_NOTE: &str = "<!-- generated from src/inputs.rs by tests/it/drift.rs: edit that table, then run `cargo test --test it drift::` and commit -->";

/// A YAML double-quoted scalar (a JSON string is one).
fn yaml_quoted(s: &str) -> String {
    serde_json::to_string(s).expect("a string serialises")
}

fn action_inputs_block(inputs: &[InputSpec]) -> String {
    let mut out = String::from("inputs:\n");
    for spec in inputs {
        out.push_str(&format!(
            "  {}:\n    description: {}\n",
            spec.name,
            yaml_quoted(spec.description)
        ));
        if let Some(d) = spec.default {
            out.push_str(&format!("    default: {}\n", yaml_quoted(d)));
        }
    }
    out
}

fn action_outputs_block(outputs: &[(&str, &str)]) -> String {
    let mut out = String::from("outputs:\n");
    for (name, description) in outputs {
        out.push_str(&format!(
            "  {name}:\n    description: {}\n",
            yaml_quoted(description)
        ));
    }
    out
}

/// Replaces the top-level mapping `key:` of a YAML file (up to the next line that starts in
/// column 0, blank lines before it kept) by `block`; every other line stays as it is.
fn replace_yaml_block(text: &str, key: &str, block: &str) -> String {
    let lines: Vec<&str> = text.split_inclusive('\n').collect();
    let start = lines
        .iter()
        .position(|l| l.trim_end() == format!("{key}:"))
        .unwrap_or_else(|| panic!("action.yml has no top-level `{key}:` line"));
    let mut end = lines[start + 1..]
        .iter()
        .position(|l| !l.trim().is_empty() && !l.starts_with([' ', '\t']))
        .map_or(lines.len(), |i| start + 1 + i);
    while end > start + 1 && lines[end - 1].trim().is_empty() {
        end -= 1;
    }
    format!(
        "{}{block}{}",
        lines[..start].concat(),
        lines[end..].concat()
    )
}

fn regenerate_action(text: &str, inputs: &[InputSpec], outputs: &[(&str, &str)]) -> String {
    let text = replace_yaml_block(text, "inputs", &action_inputs_block(inputs));
    replace_yaml_block(&text, "outputs", &action_outputs_block(outputs))
}

/// A table cell: pipes escaped, and `<` outside code spans (`ecs-deploy-<GITHUB_RUN_ID>`) kept
/// from being read as HTML.
fn cell(s: &str) -> String {
    let mut out = String::new();
    for (i, part) in s.split('`').enumerate() {
        if i > 0 {
            out.push('`');
        }
        if i % 2 == 0 {
            out.push_str(&part.replace('<', "&lt;"));
        } else {
            out.push_str(part);
        }
    }
    out.replace('|', "\\|")
}

fn readme_inputs_table(inputs: &[InputSpec]) -> String {
    let mut out =
        format!("{GENERATED_NOTE}\n| input | meaning | accepts | default |\n|---|---|---|---|\n");
    for spec in inputs {
        let default = spec.default.map_or("—".to_string(), |d| format!("`{d}`"));
        out.push_str(&format!(
            "| `{}` | {} | {} | {} |\n",
            spec.name,
            cell(spec.description),
            cell(&spec.accepts()),
            cell(&default)
        ));
    }
    out
}

fn readme_outputs_table(outputs: &[(&str, &str)]) -> String {
    let mut out = format!("{GENERATED_NOTE}\n| output | value |\n|---|---|\n");
    for (name, description) in outputs {
        out.push_str(&format!("| `{name}` | {} |\n", cell(description)));
    }
    out
}

/// Replaces what lies between the two marker lines.
fn replace_between(text: &str, (start, end): (&str, &str), body: &str) -> String {
    let missing = || {
        panic!("README.md lacks the marker lines `{start}` and `{end}` (in that order) around its generated table")
    };
    let a = text.find(start).unwrap_or_else(missing) + start.len();
    let b = text[a..].find(end).unwrap_or_else(missing) + a;
    format!("{}\n{body}{}", &text[..a], &text[b..])
}

fn regenerate_readme(text: &str, inputs: &[InputSpec], outputs: &[(&str, &str)]) -> String {
    let text = replace_between(text, README_INPUTS, &readme_inputs_table(inputs));
    replace_between(&text, README_OUTPUTS, &readme_outputs_table(outputs))
}

#[test]
fn generated_parts_match_the_inputs_table() {
    let mut rewritten = Vec::new();
    for (rel, regenerate) in [
        (
            "action.yml",
            regenerate_action as fn(&str, &[InputSpec], &[(&str, &str)]) -> String,
        ),
        ("README.md", regenerate_readme),
    ] {
        let old = read(rel);
        let new = regenerate(&old, INPUTS, OUTPUTS);
        if new != old {
            // Through a temporary file, so a test reading it meanwhile never sees half of it.
            let path = repo_file(rel);
            let tmp = path.with_extension("drift-tmp");
            std::fs::write(&tmp, &new).unwrap_or_else(|e| panic!("writing {rel}: {e}"));
            std::fs::rename(&tmp, &path).unwrap_or_else(|e| panic!("replacing {rel}: {e}"));
            rewritten.push(rel);
        }
    }
    assert!(
        rewritten.is_empty(),
        "{} {} out of date with src/inputs.rs and {} been rewritten from it: review the change (git diff) and commit it",
        rewritten.join(" and "),
        if rewritten.len() == 1 { "was" } else { "were" },
        if rewritten.len() == 1 { "has" } else { "have" },
    );
    // What was generated is still a valid action.yml.
    assert!(action().get("runs").is_some());
}

#[test]
fn regeneration_follows_a_changed_default_and_keeps_the_rest() {
    let mut changed: Vec<InputSpec> = INPUTS.to_vec();
    let wait = changed
        .iter_mut()
        .find(|s| s.name == "wait-for-minutes")
        .unwrap();
    wait.default = Some("42");
    let action_text = read("action.yml");
    let readme = read("README.md");
    let new_action = regenerate_action(&action_text, &changed, OUTPUTS);
    let new_readme = regenerate_readme(&readme, &changed, OUTPUTS);
    assert!(
        new_action.contains("  wait-for-minutes:\n    description: ")
            && new_action.contains("    default: \"42\"\n")
    );
    assert!(new_readme.contains("| `42` |"), "{new_readme}");
    // Only the generated parts move: everything outside them is byte for byte the same.
    let parsed: Yaml = serde_yaml_ng::from_str(&new_action).expect("still YAML");
    let old: Yaml = serde_yaml_ng::from_str(&action_text).unwrap();
    for key in [
        "name",
        "description",
        "author",
        "branding",
        "runs",
        "outputs",
    ] {
        assert_eq!(parsed.get(key), old.get(key), "action.yml `{key}` changed");
    }
    assert_eq!(
        parsed["inputs"]["wait-for-minutes"]["default"].as_str(),
        Some("42")
    );
    let outside = |t: &str| {
        let a = t.find(README_INPUTS.0).unwrap();
        let b = t.find(README_INPUTS.1).unwrap();
        format!("{}{}", &t[..a], &t[b..])
    };
    assert_eq!(outside(&new_readme), outside(&readme));
    // Regenerating twice changes nothing more.
    assert_eq!(
        regenerate_action(&new_action, &changed, OUTPUTS),
        new_action
    );
    assert_eq!(
        regenerate_readme(&new_readme, &changed, OUTPUTS),
        new_readme
    );
}
