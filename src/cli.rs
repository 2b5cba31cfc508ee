//! Command-line parsing: the first stage of the two-stage argument handling.
//!
//! It only collects raw strings: the command, one `--flag` per input (built from the inputs
//! table so flags and action inputs never drift), and `--output`. Flags win over `INPUT_*`.
//! `config.rs` validates the merged result.

use std::collections::BTreeMap;

use clap::{Arg, ArgAction, Command};

use crate::inputs::{Kind, INPUTS};

/// What the command line asked for, before validation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RawArgs {
    /// `deploy`, `plan`, `render`, `verify`, `rollback`, `run-task` or `continue`; `None` when not given.
    pub command: Option<String>,
    pub flags: BTreeMap<&'static str, String>,
    /// `--output json`: print the outputs as one JSON object on stdout.
    pub output_json: bool,
}

pub const COMMANDS: &[(&str, &str)] = &[
    (
        "deploy",
        "Deploy the stack (when it changed) and every service, wait, roll back on failure",
    ),
    (
        "plan",
        "Show what deploy would change (task-definition diffs, stack change set); change nothing",
    ),
    (
        "render",
        "Print the rendered task definition(s) as JSON; needs no AWS",
    ),
    (
        "verify",
        "Run every pre-flight check against AWS without changing anything",
    ),
    (
        "rollback",
        "Put the named services back on their previous task definition and wait",
    ),
    (
        "run-task",
        "Run the one-off task (run-task-command) on the service's current task definition, wait for it to stop, exit with its verdict; no deploy",
    ),
    (
        "continue",
        "Continue an ECS-native deployment paused at a lifecycle hook, or a CodeDeploy deployment at Ready (or roll it back: --continue-action rollback), and wait for it",
    ),
    (
        "prune",
        "Deregister the ACTIVE revisions of the families input names beyond the newest keep-revisions, never one in use; dry-run: true only lists them",
    ),
];

fn command() -> Command {
    let mut cmd = Command::new("ecs-deploy")
        .version(env!("CARGO_PKG_VERSION"))
        .about("Deploy applications to AWS ECS: stack, task definitions, services, wait, rollback, report")
        .after_help(
            "Every flag is also read from INPUT_<NAME> (hyphens kept) when run as a GitHub action; flags win.",
        )
        .arg(
            Arg::new("command")
                .value_name("COMMAND")
                .help("deploy | plan | render | verify | rollback | run-task | continue | prune (default: deploy, or input `mode` in GitHub Actions)")
                .value_parser(COMMANDS.iter().map(|(c, _)| *c).collect::<Vec<_>>()),
        )
        .arg(
            Arg::new("output")
                .long("output")
                .value_name("FORMAT")
                .value_parser(["text", "json"])
                .help("json: print the outputs as one JSON object on stdout"),
        );
    for spec in INPUTS {
        let mut help = spec.description.to_string();
        if !matches!(spec.kind, Kind::String | Kind::Lines | Kind::Path) {
            help.push_str(&format!(" [{}]", spec.accepts().replace('`', "")));
        }
        if let Some(d) = spec.default {
            help.push_str(&format!(" [default: {d}]"));
        }
        cmd = cmd.arg(
            Arg::new(spec.name)
                .long(spec.name)
                .value_name("VALUE")
                .action(ArgAction::Set)
                .help(help),
        );
    }
    cmd
}

/// Parses the command line. Help, version and usage errors are clap's (exit 0 or 2).
pub fn parse<I, T>(args: I) -> Result<RawArgs, clap::Error>
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let m = command().try_get_matches_from(args)?;
    let flags = INPUTS
        .iter()
        .filter_map(|spec| {
            let v = m.get_one::<String>(spec.name)?;
            (!v.trim().is_empty()).then(|| (spec.name, v.clone()))
        })
        .collect();
    Ok(RawArgs {
        command: m.get_one::<String>("command").cloned(),
        flags,
        output_json: m.get_one::<String>("output").map(String::as_str) == Some("json"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_and_command_are_collected() {
        let raw = parse([
            "ecs-deploy",
            "plan",
            "--cluster",
            "c",
            "--task-definition",
            "t.json",
            "--output",
            "json",
        ])
        .unwrap();
        assert_eq!(raw.command.as_deref(), Some("plan"));
        assert_eq!(raw.flags.get("cluster").map(String::as_str), Some("c"));
        assert_eq!(
            raw.flags.get("task-definition").map(String::as_str),
            Some("t.json")
        );
        assert!(raw.output_json);
    }

    #[test]
    fn commands_are_the_modes_of_the_inputs_table() {
        let names: Vec<&str> = COMMANDS.iter().map(|(c, _)| *c).collect();
        assert_eq!(names, crate::inputs::MODES);
    }

    #[test]
    fn unknown_command_is_refused() {
        assert!(parse(["ecs-deploy", "destroy"]).is_err());
    }
}
