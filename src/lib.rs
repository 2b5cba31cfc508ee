//! ecs-deploy: deploy applications to AWS ECS from GitHub Actions or a terminal.
//!
//! `run` is the whole program: parse, validate, dispatch to a command, report, exit code.
//! See ARCHITECTURE.md for the codemap.

pub mod aws;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod deploy;
mod document;
pub mod ecs_json;
pub mod error;
pub mod gha;
pub mod github;
pub mod images;
pub mod inputs;
pub mod redact;
pub mod render;
pub mod report;
pub mod rollback;
pub mod services;
pub mod stack;
pub mod subst;
pub mod taskdef;
pub mod tasks;
pub mod verify;
pub mod wait;

use std::process::ExitCode;

use config::{Config, Mode};
use error::{Failure, EXIT_FAILED, EXIT_INPUT, EXIT_OK};
use gha::{Printer, Runtime};
use report::{Report, RunResult};

/// Runs the program with these arguments and returns its exit code.
pub fn run(args: Vec<std::ffi::OsString>) -> ExitCode {
    let raw = match cli::parse(args) {
        Ok(r) => r,
        Err(e) => {
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_INPUT } else { EXIT_OK });
        }
    };
    let rt = Runtime::from_env();
    // The job's own credentials are secrets too: nothing we print may contain them.
    for name in [
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
        "ACTIONS_RUNTIME_TOKEN",
        "GITHUB_TOKEN",
    ] {
        if let Some(v) = rt.env.get(name) {
            redact::register(v);
        }
    }
    init_tracing(&rt);
    let out = Printer::new(&rt);
    let cwd = std::env::current_dir().unwrap_or_default();
    let cfg = match config::build(&raw, &rt, &cwd) {
        Ok(c) => c,
        Err(problems) => return finish_failure(&rt, &out, None, Failure::Input(problems)).0,
    };
    if let Some(token) = &cfg.github_token {
        redact::register(token);
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
        Err(e) => return finish_failure(&rt, &out, Some(&cfg), Failure::Other(e.into())).0,
    };
    runtime.block_on(async {
        let run = deploy::run(&cfg, &rt, &out);
        tokio::pin!(run);
        // A cancelled job (SIGTERM, SIGINT) still gets its outputs and summary: the wait
        // stops by itself within a poll; any other phase is given a moment, then abandoned.
        let (result, cancelled) = tokio::select! {
            r = &mut run => (r, false),
            name = shutdown_signal() => match tokio::time::timeout(CANCEL_GRACE, &mut run).await {
                Ok(r) => (r, true),
                Err(_) => (Err(Failure::Other(anyhow::anyhow!(
                    "{name} received: cancelled before the deploy finished; what was already started in AWS (a stack operation, a rollout) carries on there"
                ))), true),
            },
        };
        let (code, markdown) = match result {
            Ok(report) => (finish(&rt, &out, &cfg, &report), report::markdown(&report)),
            Err(f) => finish_failure(&rt, &out, Some(&cfg), f),
        };
        // After outputs and summary are written: a slow GitHub API cannot lose them. A
        // cancelled job has seconds left before the runner kills it: no comment then.
        if cfg.comment_on_pr && !cancelled {
            let post = github::comment(&cfg, &rt, &markdown, &out);
            if tokio::time::timeout(COMMENT_DEADLINE, post).await.is_err() {
                out.warning(&format!(
                    "the pull-request comment took longer than {} s and was abandoned",
                    COMMENT_DEADLINE.as_secs()
                ));
            }
        }
        code
    })
}

/// How long a cancelled run may take to finish what it is doing before it is abandoned.
const CANCEL_GRACE: std::time::Duration = std::time::Duration::from_secs(3);

/// Resolves with the signal's name on SIGTERM or SIGINT (never, where they cannot be caught).
async fn shutdown_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
    }
}

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

/// `render` keeps stdout for the document: progress and errors go to stderr (the runner reads
/// workflow commands from both).
fn render(cfg: &Config, rt: &Runtime) -> ExitCode {
    let out = Printer::to_stderr(rt);
    match deploy::render_files(cfg, rt, Some(&out), &Default::default()) {
        Ok(docs) => {
            let value = if docs.len() == 1 {
                docs[0].body.clone()
            } else {
                serde_json::Value::Array(docs.into_iter().map(|d| d.body).collect())
            };
            // `render` prints the whole document on purpose: that is what it is asked for.
            println!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            );
            ExitCode::from(EXIT_OK)
        }
        Err(f) => finish_failure(rt, &out, Some(cfg), f).0,
    }
}

/// Writes outputs and summary, prints the result, and picks the exit code.
fn finish(rt: &Runtime, out: &Printer, cfg: &Config, report: &Report) -> ExitCode {
    if let Some(path) = &rt.output_file {
        if let Err(e) = gha::write_outputs(path, &report::outputs(report)) {
            out.error(&Default::default(), &format!("{e:#}"));
        }
    }
    if let Some(path) = &rt.summary_file {
        if let Err(e) = gha::write_summary(path, &report::markdown(report)) {
            out.warning(&format!("{e:#}"));
        }
    }
    if cfg.output_json {
        println!(
            "{}",
            redact::scrub(&report::outputs_json(report).to_string())
        );
    }
    let code = match report.result {
        RunResult::Deployed | RunResult::Unchanged | RunResult::Planned => EXIT_OK,
        // `rollback` asked for a rollback: having done it is success.
        RunResult::RolledBack if cfg.mode == Mode::Rollback => EXIT_OK,
        RunResult::RolledBack | RunResult::Failed => EXIT_FAILED,
    };
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
            .collect();
        out.error(&Default::default(), &format!("{line}; {}", why.join("; ")));
    }
    ExitCode::from(code)
}

/// Reports a run that stopped before it had a report: every problem, `result=failed`.
/// Returns the exit code and the Markdown written to the summary (for the PR comment).
fn finish_failure(
    rt: &Runtime,
    out: &Printer,
    cfg: Option<&Config>,
    f: Failure,
) -> (ExitCode, String) {
    let (code, lines) = match &f {
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
            (
                EXIT_INPUT,
                problems
                    .iter()
                    .map(|p| p.message.clone())
                    .collect::<Vec<_>>(),
            )
        }
        Failure::Other(e) => {
            let text = format!("{e:#}");
            out.error(&Default::default(), &text);
            (EXIT_FAILED, vec![text])
        }
    };
    if let Some(path) = &rt.output_file {
        let _ = gha::write_outputs(path, &[("result".into(), "failed".into())]);
    }
    let what = if code == EXIT_INPUT {
        "invalid input, nothing was changed"
    } else {
        "failed"
    };
    let mut md = format!("## ❌ ecs-deploy: {what}\n\n");
    for l in &lines {
        md.push_str(&format!("- {}\n", report::md(l)));
    }
    if let Some(path) = &rt.summary_file {
        let _ = gha::write_summary(path, &md);
    }
    if cfg.is_some_and(|c| c.output_json) {
        println!(
            "{}",
            serde_json::json!({"result": "failed", "errors": lines.iter().map(|l| redact::scrub(l).into_owned()).collect::<Vec<_>>()})
        );
    }
    (ExitCode::from(code), md)
}
