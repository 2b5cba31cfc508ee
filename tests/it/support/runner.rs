//! Runs the real `ecs-deploy` binary the way a GitHub runner runs a container action: a
//! cleared environment holding only what the runner provides (`GITHUB_*`, `RUNNER_*`,
//! `INPUT_*` with hyphens kept), a workspace as the current directory, the runner's file
//! commands (`GITHUB_OUTPUT`, `GITHUB_STEP_SUMMARY`, …) as files outside the workspace, and
//! AWS pointed at moto or a stand-in through `AWS_ENDPOINT_URL`. `Outcome` parses what the
//! binary reported through those channels.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// A run longer than this is a hang (the product's own waits are much shorter in tests).
const RUN_TIMEOUT: Duration = Duration::from_secs(120);
pub const SHA: &str = "8f14e45fceea167a5a36dedd4bea2543c7a5e3b1";
pub const REPOSITORY: &str = "acme/dataspace";
/// A marker secret: it must never appear in anything the binary prints or writes.
pub const SECRET_ACCESS_KEY: &str = "test-secret-access-key-canary";

/// One configured invocation; `run` may be called several times (reruns reuse the workspace).
pub struct Run {
    workspace: tempfile::TempDir,
    runner: tempfile::TempDir,
    env: BTreeMap<String, String>,
    /// Variables whose values are raw bytes (not necessarily UTF-8), set after `env`.
    raw_env: Vec<(String, Vec<u8>)>,
    args: Vec<String>,
}

/// What one run produced.
#[derive(Clone, Debug)]
pub struct Outcome {
    /// The exit code; -1 when the process was killed by a signal.
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    /// `GITHUB_OUTPUT` parsed (`name=value` and `name<<DELIM` blocks); a later value wins.
    pub outputs: BTreeMap<String, String>,
    /// `GITHUB_STEP_SUMMARY` as written.
    pub summary: String,
    /// `GITHUB_OUTPUT` as written, unparsed.
    pub output_file: String,
    /// `GITHUB_ENV` as written.
    pub env_file: String,
}

impl Run {
    pub fn new(aws_url: &str) -> Self {
        let workspace = tempfile::Builder::new()
            .prefix("ecs-deploy-ws-")
            .tempdir()
            .expect("creating the workspace");
        let runner = tempfile::Builder::new()
            .prefix("ecs-deploy-runner-")
            .tempdir()
            .expect("creating the runner's file-command dir");
        let rp = runner.path();
        fs::create_dir_all(rp.join("temp")).expect("creating RUNNER_TEMP");
        let event = json!({
            "ref": "refs/heads/dev",
            "before": "0000000000000000000000000000000000000000",
            "after": SHA,
            "repository": {
                "full_name": REPOSITORY,
                "name": "dataspace",
                "owner": { "login": "acme", "name": "acme" },
                "default_branch": "main",
                "html_url": format!("https://github.com/{REPOSITORY}"),
            },
            "pusher": { "name": "octocat", "email": "octocat@github.com" },
            "sender": { "login": "octocat", "type": "User" },
            "head_commit": {
                "id": SHA,
                "message": "Deploy dataspace to dev",
                "timestamp": "2026-01-01T12:00:00Z",
                "author": { "name": "Octo Cat", "email": "octocat@github.com", "username": "octocat" },
            },
        });
        fs::write(
            rp.join("event.json"),
            serde_json::to_vec_pretty(&event).unwrap(),
        )
        .expect("writing the event file");

        let ws = workspace.path().to_string_lossy().into_owned();
        let file = |name: &str| rp.join(name).to_string_lossy().into_owned();
        let mut env = BTreeMap::new();
        for k in ["PATH", "HOME"] {
            if let Ok(v) = std::env::var(k) {
                env.insert(k.to_string(), v);
            }
        }
        let fixed = [
            ("GITHUB_ACTIONS", "true".to_string()),
            ("CI", "true".into()),
            ("GITHUB_WORKSPACE", ws),
            ("GITHUB_OUTPUT", file("output")),
            ("GITHUB_STEP_SUMMARY", file("step_summary")),
            ("GITHUB_ENV", file("env")),
            ("GITHUB_PATH", file("path")),
            ("GITHUB_STATE", file("state")),
            ("GITHUB_EVENT_NAME", "push".into()),
            ("GITHUB_EVENT_PATH", file("event.json")),
            ("GITHUB_REF", "refs/heads/dev".into()),
            ("GITHUB_REF_NAME", "dev".into()),
            ("GITHUB_REF_TYPE", "branch".into()),
            ("GITHUB_SHA", SHA.into()),
            ("GITHUB_REPOSITORY", REPOSITORY.into()),
            ("GITHUB_REPOSITORY_OWNER", "acme".into()),
            ("GITHUB_RUN_ID", "4242".into()),
            ("GITHUB_RUN_NUMBER", "17".into()),
            ("GITHUB_RUN_ATTEMPT", "1".into()),
            ("GITHUB_SERVER_URL", "https://github.com".into()),
            ("GITHUB_API_URL", "http://127.0.0.1:9".into()),
            ("GITHUB_WORKFLOW", "deploy".into()),
            ("GITHUB_JOB", "deploy".into()),
            ("GITHUB_ACTOR", "octocat".into()),
            ("RUNNER_TEMP", file("temp")),
            ("RUNNER_OS", "Linux".into()),
            ("AWS_ENDPOINT_URL", aws_url.to_string()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "AKIDTESTTESTTEST".into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_ACCESS_KEY.into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
        ];
        for (k, v) in fixed {
            env.insert(k.to_string(), v);
        }
        Run {
            workspace,
            runner,
            env,
            raw_env: Vec::new(),
            args: Vec::new(),
        }
    }

    /// An action input: `INPUT_<NAME>` upper-cased with hyphens kept, as the runner does.
    pub fn input(self, name: &str, value: &str) -> Self {
        let key = format!("INPUT_{}", name.replace(' ', "_").to_uppercase());
        self.env(&key, value)
    }

    /// Sets (or overrides) one environment variable.
    pub fn env(mut self, k: &str, v: &str) -> Self {
        self.env.insert(k.to_string(), v.to_string());
        self
    }

    /// Sets one environment variable to raw bytes (a value that need not be UTF-8).
    pub fn env_bytes(mut self, k: &str, v: &[u8]) -> Self {
        self.raw_env.push((k.to_string(), v.to_vec()));
        self
    }

    /// Removes a variable the runner would otherwise provide.
    pub fn without_env(mut self, k: &str) -> Self {
        self.env.remove(k);
        self
    }

    /// Writes a file into the workspace, creating its directories.
    pub fn file(self, rel_path: &str, contents: &str) -> Self {
        let path = self.workspace.path().join(rel_path);
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)
                .unwrap_or_else(|e| panic!("creating {}: {e}", parent.display()));
        }
        fs::write(&path, contents).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
        self
    }

    pub fn arg(mut self, a: &str) -> Self {
        self.args.push(a.to_string());
        self
    }

    /// A variable as the binary will see it.
    pub fn env_var(&self, k: &str) -> Option<&str> {
        self.env.get(k).map(String::as_str)
    }

    pub fn workspace(&self) -> &Path {
        self.workspace.path()
    }

    /// The runner's temp dir (`RUNNER_TEMP`), outside the workspace.
    pub fn runner_temp(&self) -> PathBuf {
        self.runner.path().join("temp")
    }

    /// Starts the binary and returns at once (for tests that signal it); `run` waits.
    pub fn spawn(&self) -> std::process::Child {
        let rp = self.runner.path();
        for name in ["output", "step_summary", "env", "path", "state"] {
            fs::write(rp.join(name), "").expect("truncating a file-command file");
        }
        Command::new(binary())
            .args(&self.args)
            .env_clear()
            .envs(&self.env)
            .envs(self.raw_env.iter().map(|(k, v)| {
                use std::os::unix::ffi::OsStrExt;
                (k, std::ffi::OsStr::from_bytes(v))
            }))
            .current_dir(self.workspace.path())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("starting ecs-deploy")
    }

    /// The `GITHUB_OUTPUT` and `GITHUB_STEP_SUMMARY` files as the last run left them.
    pub fn files_written(&self) -> (BTreeMap<String, String>, String) {
        let read =
            |name: &str| fs::read_to_string(self.runner.path().join(name)).unwrap_or_default();
        (parse_outputs(&read("output")), read("step_summary"))
    }

    pub fn run(&self) -> Outcome {
        let rp = self.runner.path();
        let mut child = self.spawn();
        let stdout = drain(child.stdout.take().expect("piped stdout"));
        let stderr = drain(child.stderr.take().expect("piped stderr"));
        let deadline = Instant::now() + RUN_TIMEOUT;
        let status = loop {
            if let Some(status) = child.try_wait().expect("waiting for ecs-deploy") {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                let out = stdout.join().unwrap_or_default();
                let err = stderr.join().unwrap_or_default();
                panic!(
                    "ecs-deploy hung: killed after {RUN_TIMEOUT:?}\n--- stdout ---\n{out}\n--- stderr ---\n{err}"
                );
            }
            thread::sleep(Duration::from_millis(20));
        };
        let read = |name: &str| fs::read_to_string(rp.join(name)).unwrap_or_default();
        let output_file = read("output");
        Outcome {
            code: status.code().unwrap_or(-1),
            stdout: stdout.join().unwrap_or_default(),
            stderr: stderr.join().unwrap_or_default(),
            outputs: parse_outputs(&output_file),
            summary: read("step_summary"),
            output_file,
            env_file: read("env"),
        }
    }
}

fn drain(mut pipe: impl Read + Send + 'static) -> thread::JoinHandle<String> {
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        String::from_utf8_lossy(&buf).into_owned()
    })
}

/// Parses the runner's file-command format: `name=value` lines and `name<<DELIM` … `DELIM`
/// blocks (the value is the lines between, joined with `\n`).
pub fn parse_outputs(text: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut lines = text.split('\n').map(|l| l.strip_suffix('\r').unwrap_or(l));
    while let Some(line) = lines.next() {
        if line.is_empty() {
            continue;
        }
        let eq = line.find('=');
        let heredoc = line.find("<<");
        match (eq, heredoc) {
            (Some(e), h) if h.is_none_or(|h| e < h) => {
                out.insert(line[..e].to_string(), line[e + 1..].to_string());
            }
            (_, Some(h)) => {
                let (name, delim) = (&line[..h], &line[h + 2..]);
                let mut value = Vec::new();
                let mut closed = false;
                for l in lines.by_ref() {
                    if l == delim {
                        closed = true;
                        break;
                    }
                    value.push(l);
                }
                assert!(
                    closed,
                    "GITHUB_OUTPUT: block {name:?} never closed by {delim:?}:\n{text}"
                );
                out.insert(name.to_string(), value.join("\n"));
            }
            _ => panic!("GITHUB_OUTPUT: malformed line {line:?}:\n{text}"),
        }
    }
    out
}

impl Outcome {
    /// Everything the binary emitted, for "is it mentioned / is the secret absent" checks.
    pub fn all_text(&self) -> String {
        format!(
            "--- exit code {} ---\n--- stdout ---\n{}\n--- stderr ---\n{}\n--- step summary ---\n{}\n--- GITHUB_OUTPUT ---\n{}\n--- GITHUB_ENV ---\n{}",
            self.code, self.stdout, self.stderr, self.summary, self.output_file, self.env_file
        )
    }

    /// One output, panicking (with everything the run printed) when it is missing.
    pub fn output(&self, name: &str) -> &str {
        self.outputs
            .get(name)
            .map(String::as_str)
            .unwrap_or_else(|| panic!("no output {name:?}\n{}", self.all_text()))
    }

    /// One output parsed as JSON.
    pub fn output_json(&self, name: &str) -> Value {
        let raw = self.output(name);
        serde_json::from_str(raw).unwrap_or_else(|e| {
            panic!(
                "output {name:?} is not JSON ({e}): {raw}\n{}",
                self.all_text()
            )
        })
    }

    /// Asserts the exit code, showing everything the run printed when it differs.
    pub fn assert_code(&self, expected: i32) -> &Self {
        assert_eq!(
            self.code,
            expected,
            "unexpected exit code\n{}",
            self.all_text()
        );
        self
    }
}

/// Sends SIGTERM to `child` (as a cancelled workflow does) and waits for it to exit, failing
/// the test when it is still running at `guard`.
pub fn terminate(
    child: &mut std::process::Child,
    guard: std::time::Instant,
) -> std::process::ExitStatus {
    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("running kill");
    assert!(killed.success());
    loop {
        if let Some(st) = child.try_wait().expect("waiting for ecs-deploy") {
            return st;
        }
        assert!(
            std::time::Instant::now() < guard,
            "ecs-deploy did not exit after SIGTERM"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The binary the runs start: cargo's build of this crate, or, for the benchmarks only, the
/// one `ECS_DEPLOY_BENCH_BIN` names (a release build, measured with a dev-profile harness).
pub fn binary() -> PathBuf {
    std::env::var_os("ECS_DEPLOY_BENCH_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_ecs-deploy")))
}
