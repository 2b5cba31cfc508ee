//! ecs-deploy: deploy applications to AWS ECS from GitHub Actions or a terminal.
//!
//! `run` is the whole program: parse, validate, dispatch to a command, report, exit code.
//! See ARCHITECTURE.md for the codemap.

mod arn;
mod aws;
mod cancel;
mod cli;
mod compose;
mod config;
mod context;
mod credentials;
mod decide;
mod deploy;
mod document;
mod ecs_json;
mod error;
mod gha;
mod github;
mod housekeeping;
mod images;
pub mod inputs;
mod once;
mod oneoff;
mod prelude;
mod record;
mod redact;
mod render;
mod report;
mod resume;
mod rollback;
mod rollout;
mod scaling;
mod schedules;
mod servicedef;
mod services;
mod stack;
mod subst;
mod taskdef;
mod tasks;
mod tfstate;
mod verify;
mod verify_native;
mod wait;

use std::io::Write as _;
use std::process::ExitCode;

use config::{Config, Mode};
use context::Intent;
use error::{Failure, EXIT_FAILED, EXIT_INPUT, EXIT_OK};
use gha::{Printer, Runtime};
use report::{Report, RunResult};

/// Runs the program with these arguments and returns its exit code.
pub fn run(args: Vec<std::ffi::OsString>) -> ExitCode {
    let wants_json = asks_for_json(&args);
    let raw = match cli::parse(args) {
        Ok(r) => r,
        Err(e) if !e.use_stderr() => {
            // --help and --version: our own text, printed as clap formats it.
            let _ = e.print();
            return ExitCode::from(EXIT_OK);
        }
        Err(e) => {
            // clap quotes the arguments: its message goes through the printer like any other.
            let rt = Runtime::from_env();
            let out = Printer::new(&rt);
            let message = e.render().to_string();
            out.error(&Default::default(), message.trim_end());
            if wants_json {
                let failure = Failure::Input(vec![error::InputProblem::new(e.kind().to_string())]);
                let report = Report::stopped(empty_report(None, &rt), &failure);
                let json = redact::scrub(&report::outputs_json(&report).to_string()).into_owned();
                print_stdout(&gha::inert_json(&json, rt.actions));
            }
            return ExitCode::from(EXIT_INPUT);
        }
    };
    let rt = Runtime::from_env();
    // The job's own credentials are secrets too: nothing we print may contain them, and no
    // task definition may carry them (`redact::is_credential`).
    for name in [
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "ACTIONS_RUNTIME_TOKEN",
        "GITHUB_TOKEN",
    ] {
        if let Some(v) = rt.env.get(name) {
            redact::register_credential(name, v);
        }
    }
    init_tracing(&rt);
    let out = Printer::new(&rt);
    let cwd = std::env::current_dir().unwrap_or_default();
    let cfg = match config::build(&raw, &rt, &cwd) {
        Ok(c) => c,
        Err(problems) => {
            let report = stopped(None, &rt, &out, Failure::Input(problems));
            return finish(&rt, &out, raw.output_json, &report, Mode::Deploy).0;
        }
    };
    if let Some(token) = &cfg.comment.github_token {
        redact::register_credential("github-token", token);
    }
    if let Some(region) = &cfg.region {
        redact::declare_public(region);
    }
    if cfg.mode == Mode::Render {
        return render(&cfg, &rt);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            let report = stopped(Some(&cfg), &rt, &out, Failure::Other(e.into()));
            return finish(&rt, &out, cfg.output_json, &report, cfg.mode).0;
        }
    };
    // The run is a task of its own, so a signal is seen even while it parses files or waits
    // on a call: the process ends a few seconds after the runner asks, whatever it was doing.
    let (cfg, rt, out): (&'static Config, &'static Runtime, &'static Printer) = (
        Box::leak(Box::new(cfg)),
        Box::leak(Box::new(rt)),
        Box::leak(Box::new(out)),
    );
    let so_far: &'static report::SoFar = Box::leak(Box::default());
    let code = runtime.block_on(async {
        cancel::listen();
        let mut run = tokio::spawn(dispatch(cfg, rt, out, so_far));
        // A cancelled job (SIGTERM, SIGINT) still gets its outputs and summary: the wait
        // stops by itself within a poll; any other phase is given a moment, then abandoned.
        let (result, cancelled) = tokio::select! {
            r = &mut run => (joined(r), false),
            name = cancel::cancelled() => match tokio::time::timeout(CANCEL_GRACE, &mut run).await {
                Ok(r) => (joined(r), true),
                Err(_) => (Err(Failure::Other(anyhow::anyhow!(
                    "{name} received: cancelled before the deploy finished; what was already started in AWS (a stack operation, a rollout) carries on there"
                ))), true),
            },
        };
        let report = match result {
            Ok(report) => report,
            Err(f) => {
                let mut report = stopped(Some(cfg), rt, out, f);
                // What the abandoned run had changed by then.
                report.services = so_far.take();
                report
            }
        };
        let (code, markdown) = finish(rt, out, cfg.output_json, &report, cfg.mode);
        // After outputs and summary are written: a slow GitHub API cannot lose them. A
        // cancelled job has seconds left before the runner kills it: no comment then.
        if cfg.comment.comment_on_pr && !cancelled {
            let post = github::comment(cfg, rt, &markdown, out);
            if tokio::time::timeout(COMMENT_DEADLINE, post).await.is_err() {
                out.warning(&format!(
                    "the pull-request comment took longer than {} s and was abandoned",
                    COMMENT_DEADLINE.as_secs()
                ));
            }
        }
        code
    });
    // An abandoned phase may still be busy (a file being parsed): do not wait for it.
    runtime.shutdown_background();
    code
}

/// The one dispatch of the commands that talk to AWS.
async fn dispatch(
    cfg: &'static Config,
    rt: &'static Runtime,
    out: &'static Printer,
    so_far: &'static report::SoFar,
) -> Result<Report, Failure> {
    match cfg.mode {
        Mode::Deploy => deploy::run(cfg, rt, out, Intent::Deploy, so_far).await,
        Mode::Plan => deploy::run(cfg, rt, out, Intent::Preview, so_far).await,
        Mode::Verify => deploy::run(cfg, rt, out, Intent::ReadOnly, so_far).await,
        Mode::Rollback => rollback::run(cfg, rt, out).await,
        Mode::RunTask => oneoff::run_alone(cfg, rt, out).await,
        Mode::Continue => resume::run(cfg, rt, out).await,
        Mode::Prune => housekeeping::run_prune(cfg, rt, out).await,
        // Handled before the runtime starts: it needs no AWS.
        Mode::Render => Err(Failure::Other(anyhow::anyhow!("render needs no AWS"))),
    }
}

fn joined(r: Result<Result<Report, Failure>, tokio::task::JoinError>) -> Result<Report, Failure> {
    r.unwrap_or_else(|e| Err(Failure::Other(anyhow::anyhow!("the run stopped: {e}"))))
}

/// `--output json` (or `--output=json`) among raw arguments, for a command line that does not
/// even parse: that exit prints the same JSON shape as every other.
fn asks_for_json(args: &[std::ffi::OsString]) -> bool {
    args.iter()
        .zip(args.iter().skip(1))
        .any(|(a, b)| a == "--output" && b == "json")
        || args.iter().any(|a| a == "--output=json")
}

/// Prints every problem of a run that stopped before it had a report (with its file and line
/// where a file is at fault) and returns that run's report.
fn stopped(cfg: Option<&Config>, rt: &Runtime, out: &Printer, f: Failure) -> Report {
    match &f {
        Failure::Input(problems) => {
            for p in problems {
                out.error(&p.at, &p.message);
            }
            // GitHub shows at most 10 annotations per step: the log has them all.
            if out.actions() && problems.len() > 10 {
                for p in problems {
                    out.line(&format!("error: {}", p.message));
                }
            }
        }
        Failure::Other(e) => out.error(&Default::default(), &format!("{e:#}")),
    }
    Report::stopped(empty_report(cfg, rt), &f)
}

/// What is known of a run that stopped before it had a report.
fn empty_report(cfg: Option<&Config>, rt: &Runtime) -> Report {
    let region = cfg.and_then(|c| c.region.clone()).unwrap_or_default();
    Report::new(
        cfg.map_or(Mode::Deploy, |c| c.mode),
        cfg.map_or("", |c| c.cluster.as_str()),
        &region,
        "",
        rt,
    )
}

/// How long a cancelled run may take to finish what it is doing before it is abandoned.
const CANCEL_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// The sticky comment is a courtesy: it may not hold a finished (or cancelled) job for long.
const COMMENT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

fn init_tracing(rt: &Runtime) {
    let default = if rt.debug {
        "ecs_deploy=debug,aws=info"
    } else {
        "off"
    };
    let filter = tracing_subscriber::EnvFilter::try_new(
        rt.env
            .get("ECS_DEPLOY_LOG")
            .map(String::as_str)
            .unwrap_or(default),
    )
    .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("off"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(|| ScrubbingWriter(std::io::stderr()))
        .without_time()
        .try_init();
}

/// Debug logs (the SDK's included) pass through the same scrubber as everything else.
struct ScrubbingWriter<W: std::io::Write>(W);

impl<W: std::io::Write> std::io::Write for ScrubbingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        self.0.write_all(redact::scrub(&text).as_bytes())?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.0.flush()
    }
}

/// Writes a line to stdout; a closed stdout (a pipe whose reader left) ends nothing: the run
/// still exits with its own code.
fn print_stdout(text: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{text}").and_then(|_| stdout.flush());
}

/// `render` keeps stdout for the documents: progress and errors go to stderr (the runner reads
/// workflow commands from both). One document prints as it is; several print one per line
/// (JSON Lines), each a document `aws ecs register-task-definition --cli-input-json` takes.
fn render(cfg: &Config, rt: &Runtime) -> ExitCode {
    let out = Printer::to_stderr(rt);
    // Without AWS a stack's outputs are unknown: each declared one renders as a placeholder.
    let placeholders = match stack::output_keys(cfg) {
        Ok(keys) => deploy::stack_placeholders(keys.as_ref()),
        Err(f) => {
            let report = stopped(Some(cfg), rt, &out, f);
            return finish(rt, &out, cfg.output_json, &report, cfg.mode).0;
        }
    };
    // A local Terraform output file is read; one in S3 is refused (no AWS here).
    let placeholders = match futures::executor::block_on(tfstate::variables(cfg, None)) {
        Ok(mut vars) => {
            vars.extend(placeholders);
            vars
        }
        Err(f) => {
            let report = stopped(Some(cfg), rt, &out, f);
            return finish(rt, &out, cfg.output_json, &report, cfg.mode).0;
        }
    };
    let rendered = deploy::render_files(cfg, rt, Some(&out), &placeholders)
        .map_err(|f| tfstate::explain_missing(f, &placeholders, cfg));
    match rendered {
        Ok(docs) => {
            let text = if docs.len() == 1 {
                serde_json::to_string_pretty(&docs[0].body).unwrap_or_default()
            } else {
                docs.iter()
                    .map(|d| serde_json::to_string(&d.body).unwrap_or_default())
                    .collect::<Vec<_>>()
                    .join("\n")
            };
            // Inside Actions the job log is shared: the same redaction as everything else.
            // A terminal gets the whole document, which is what `render` is asked for.
            let text = if rt.actions {
                redact::scrub(&text).into_owned()
            } else {
                text
            };
            print_stdout(&gha::inert_json(&text, rt.actions));
            ExitCode::from(EXIT_OK)
        }
        Err(f) => {
            let report = stopped(Some(cfg), rt, &out, f);
            finish(rt, &out, cfg.output_json, &report, cfg.mode).0
        }
    }
}

/// Writes outputs and summary, prints the result, and picks the exit code. Every run ends
/// here, whatever stopped it. Returns the exit code and the Markdown (for the PR comment).
fn finish(
    rt: &Runtime,
    out: &Printer,
    json: bool,
    report: &Report,
    mode: Mode,
) -> (ExitCode, String) {
    let markdown = report::markdown(report);
    if let Some(path) = &rt.output_file {
        if let Err(e) = gha::write_outputs(path, &report::outputs(report)) {
            out.error(&Default::default(), &format!("{e:#}"));
        }
    }
    if let Some(path) = &rt.summary_file {
        if let Err(e) = gha::write_summary(path, &markdown) {
            out.warning(&format!("{e:#}"));
        }
    }
    if json {
        let text = redact::scrub(&report::outputs_json(report).to_string()).into_owned();
        print_stdout(&gha::inert_json(&text, rt.actions));
    }
    let code = match report.result {
        _ if report.invalid_input => EXIT_INPUT,
        RunResult::Deployed | RunResult::Unchanged | RunResult::Planned | RunResult::InProgress => {
            EXIT_OK
        }
        // `rollback` asked for a rollback: having done it is success.
        RunResult::RolledBack if matches!(mode, Mode::Rollback | Mode::Continue) => EXIT_OK,
        RunResult::RolledBack | RunResult::Failed => EXIT_FAILED,
    };
    if !report.errors.is_empty() {
        return (ExitCode::from(code), markdown);
    }
    let line = format!("result: {}", report.result.as_str());
    if code == EXIT_OK {
        out.line(&line);
    } else {
        let why: Vec<String> = report
            .services
            .iter()
            .filter_map(|s| match &s.result {
                report::ServiceResult::Failed(r)
                | report::ServiceResult::RolledBack { reason: r, .. }
                | report::ServiceResult::Superseded(r) => Some(format!("{}: {r}", s.service)),
                _ => None,
            })
            .chain(report.oneoff.iter().filter_map(|t| match &t.result {
                report::TaskResult::Failed(r) => Some(format!("one-off task: {r}")),
                _ => None,
            }))
            .collect();
        out.error(&Default::default(), &format!("{line}; {}", why.join("; ")));
    }
    (ExitCode::from(code), markdown)
}
