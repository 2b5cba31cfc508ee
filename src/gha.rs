//! The GitHub Actions runtime: the only module that reads `GITHUB_*`, `RUNNER_*` and `INPUT_*`
//! variables or speaks the workflow-command protocol.
//!
//! Everything printed goes through here, is scrubbed of registered secrets (`redact.rs`), and
//! text that came from AWS or from inputs is fenced with `::stop-commands::` so it can never
//! issue a workflow command.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use crate::inputs::{env_name, INPUTS};
use crate::redact::scrub;

/// What the runner told us about this job, read once at start.
#[derive(Debug, Clone, Default)]
pub struct Runtime {
    /// `GITHUB_ACTIONS=true`: workflow commands are understood.
    pub actions: bool,
    pub debug: bool,
    pub output_file: Option<PathBuf>,
    pub summary_file: Option<PathBuf>,
    pub workspace: Option<PathBuf>,
    pub event_name: Option<String>,
    pub event_path: Option<PathBuf>,
    pub sha: Option<String>,
    pub git_ref: Option<String>,
    pub repository: Option<String>,
    pub run_id: Option<String>,
    /// `GITHUB_RUN_ATTEMPT`: 1, then 2 for a re-run of the same run.
    pub run_attempt: Option<String>,
    pub server_url: Option<String>,
    pub api_url: Option<String>,
    /// Every environment variable, for substitution (credential carriers are filtered there).
    pub env: BTreeMap<String, String>,
    /// Variables whose value is not UTF-8 text: left out of `env`, named when a file uses one.
    pub not_utf8: BTreeSet<String>,
}

impl Runtime {
    pub fn from_env() -> Self {
        let mut env = BTreeMap::new();
        let mut not_utf8 = BTreeSet::new();
        for (k, v) in std::env::vars_os() {
            // A name that is not UTF-8 cannot be referenced by a file; a value that is not
            // is noted so that its use is reported as what it is, not as "not set".
            let Ok(k) = k.into_string() else { continue };
            match v.into_string() {
                Ok(v) => {
                    env.insert(k, v);
                }
                Err(_) => {
                    not_utf8.insert(k);
                }
            }
        }
        Runtime {
            not_utf8,
            ..Self::from_map(env)
        }
    }

    pub fn from_map(env: BTreeMap<String, String>) -> Self {
        let get = |k: &str| env.get(k).filter(|v| !v.is_empty()).cloned();
        Runtime {
            actions: get("GITHUB_ACTIONS").as_deref() == Some("true"),
            debug: get("RUNNER_DEBUG").as_deref() == Some("1"),
            output_file: get("GITHUB_OUTPUT").map(PathBuf::from),
            summary_file: get("GITHUB_STEP_SUMMARY").map(PathBuf::from),
            workspace: get("GITHUB_WORKSPACE").map(PathBuf::from),
            event_name: get("GITHUB_EVENT_NAME"),
            event_path: get("GITHUB_EVENT_PATH").map(PathBuf::from),
            sha: get("GITHUB_SHA"),
            git_ref: get("GITHUB_REF"),
            repository: get("GITHUB_REPOSITORY"),
            run_id: get("GITHUB_RUN_ID"),
            run_attempt: get("GITHUB_RUN_ATTEMPT"),
            server_url: get("GITHUB_SERVER_URL"),
            api_url: get("GITHUB_API_URL"),
            env,
            not_utf8: BTreeSet::new(),
        }
    }

    /// The `INPUT_*` values of every known input, empty ones left out ("not given").
    pub fn inputs(&self) -> BTreeMap<&'static str, String> {
        INPUTS
            .iter()
            .filter_map(|spec| {
                let v = self.env.get(&env_name(spec.name))?;
                (!v.trim().is_empty()).then(|| (spec.name, v.clone()))
            })
            .collect()
    }

    /// The region from the environment when no `region` input is given.
    pub fn env_region(&self) -> Option<String> {
        ["AWS_REGION", "AWS_DEFAULT_REGION"]
            .iter()
            .find_map(|k| self.env.get(*k).filter(|v| !v.is_empty()).cloned())
    }

    /// An idempotency token for one call of this run (`what` names the call and its
    /// object): the same for a retried call and for a rerun of the same attempt of the same
    /// workflow run, different for another attempt. 32 hex characters (CreateService takes
    /// up to 36, RunTask up to 64). Outside a runner it is random: each CLI run is new.
    pub fn idempotency_token(&self, what: &str) -> String {
        let (Some(repo), Some(run)) = (&self.repository, &self.run_id) else {
            return random_token();
        };
        let key = format!(
            "{repo}\n{run}\n{}\n{what}",
            self.run_attempt.as_deref().unwrap_or("1")
        );
        // FNV-1a, twice with different offsets: stable across builds and platforms.
        let fnv = |offset: u64| {
            key.bytes().fold(offset, |h, b| {
                (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
            })
        };
        format!(
            "{:016x}{:016x}",
            fnv(0xcbf2_9ce4_8422_2325),
            fnv(0x6c62_272e_07bb_0142)
        )
    }

    pub fn run_url(&self) -> Option<String> {
        Some(format!(
            "{}/{}/actions/runs/{}",
            self.server_url.as_deref().unwrap_or("https://github.com"),
            self.repository.as_deref()?,
            self.run_id.as_deref()?
        ))
    }
}

/// Escaping for the message part of a workflow command.
pub fn escape_data(s: &str) -> String {
    s.replace('%', "%25")
        .replace('\r', "%0D")
        .replace('\n', "%0A")
}

/// Escaping for a property (`file=`, `title=`) of a workflow command.
pub fn escape_property(s: &str) -> String {
    escape_data(s).replace(':', "%3A").replace(',', "%2C")
}

/// A random hex token for heredoc delimiters and stop-commands fences.
pub fn random_token() -> String {
    let mut bytes = [0u8; 16];
    if getrandom::fill(&mut bytes).is_err() {
        // Extremely unlikely; the clock still gives a token an attacker cannot predict in advance.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        bytes = nanos.to_le_bytes();
    }
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Where a problem is, for `::error file=…,line=…::`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    pub file: Option<PathBuf>,
    pub line: Option<usize>,
    pub col: Option<usize>,
}

/// The printer: plain lines on a terminal or in a CLI, workflow commands in Actions.
#[derive(Debug, Clone)]
pub struct Printer {
    actions: bool,
    debug: bool,
    /// Progress goes to stderr, keeping stdout for a document (`render`).
    stderr: bool,
    /// A held printer keeps what it would print (`Printer::held`) until `replay`.
    held: Option<Held>,
}

/// What a held printer would have printed, in order, with the stream of each piece.
type Held = std::sync::Arc<std::sync::Mutex<Vec<(Stream, Vec<u8>)>>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stream {
    Out,
    Err,
}

/// Writes into a held printer's buffer.
struct Hold {
    held: Held,
    stream: Stream,
}

impl std::io::Write for Hold {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut pieces) = self.held.lock() {
            match pieces.last_mut() {
                Some((s, bytes)) if *s == self.stream => bytes.extend_from_slice(buf),
                _ => pieces.push((self.stream, buf.to_vec())),
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Printer {
    pub fn new(rt: &Runtime) -> Self {
        Printer {
            actions: rt.actions,
            debug: rt.debug,
            stderr: false,
            held: None,
        }
    }

    /// A printer like this one that keeps its lines until `replay`: steps that run at once
    /// print through held printers, replayed in the steps' order, so the log reads the same
    /// whatever order their calls finish in.
    pub fn held(&self) -> Self {
        Printer {
            held: Some(Held::default()),
            ..self.clone()
        }
    }

    /// Prints what a held printer kept, in order, and forgets it.
    pub fn replay(&self) {
        let Some(held) = &self.held else { return };
        let pieces = held.lock().map(|mut p| std::mem::take(&mut *p));
        for (stream, bytes) in pieces.unwrap_or_default() {
            let _ = match stream {
                Stream::Out if !self.stderr => std::io::stdout().lock().write_all(&bytes),
                _ => std::io::stderr().lock().write_all(&bytes),
            };
        }
    }

    /// A printer whose every line goes to stderr, so stdout carries only the program's result.
    pub fn to_stderr(rt: &Runtime) -> Self {
        Printer {
            stderr: true,
            ..Printer::new(rt)
        }
    }

    fn out(&self) -> Box<dyn std::io::Write> {
        match (&self.held, self.stderr) {
            (Some(held), _) => Box::new(Hold {
                held: held.clone(),
                stream: Stream::Out,
            }),
            (None, true) => Box::new(std::io::stderr().lock()),
            (None, false) => Box::new(std::io::stdout().lock()),
        }
    }

    /// Where warnings and errors go outside Actions.
    fn err(&self) -> Box<dyn std::io::Write> {
        match &self.held {
            Some(held) => Box::new(Hold {
                held: held.clone(),
                stream: Stream::Err,
            }),
            None => Box::new(std::io::stderr().lock()),
        }
    }

    pub fn actions(&self) -> bool {
        self.actions
    }

    /// A line of our own text (may contain input values, so it is neutralised too).
    pub fn line(&self, text: &str) {
        self.pending_warnings();
        self.write_lines(self.out(), &scrub(text));
    }

    /// Writes text line by line, each line inert as a workflow command in Actions.
    fn write_lines(&self, mut out: Box<dyn std::io::Write>, text: &str) {
        for l in printable(text, self.actions) {
            let _ = writeln!(out, "{l}");
        }
    }

    /// Prints the warnings the scrubber left (a secret too short to hide), once each.
    fn pending_warnings(&self) {
        // Not into a held printer: its lines may be dropped (a step before it failed).
        if self.held.is_some() {
            return;
        }
        for w in crate::redact::take_warnings() {
            self.command("warning", &Location::default(), &w);
        }
    }

    pub fn debug(&self, text: &str) {
        if self.debug {
            if self.actions {
                self.command("debug", &Location::default(), text);
            } else {
                self.line(&format!("debug: {text}"));
            }
        }
    }

    pub fn group(&self, title: &str) {
        self.pending_warnings();
        if self.actions {
            let line = format!("::group::{}", escape_data(&scrub(title)));
            let _ = writeln!(self.out(), "{line}");
        } else {
            self.line(&format!("== {title}"));
        }
    }

    pub fn end_group(&self) {
        if self.actions {
            let _ = writeln!(self.out(), "::endgroup::");
        }
    }

    pub fn error(&self, at: &Location, message: &str) {
        self.pending_warnings();
        self.command("error", at, message);
    }

    pub fn warning(&self, message: &str) {
        self.pending_warnings();
        self.command("warning", &Location::default(), message);
    }

    pub fn notice(&self, message: &str) {
        self.pending_warnings();
        self.command("notice", &Location::default(), message);
    }

    fn command(&self, kind: &str, at: &Location, message: &str) {
        let message = scrub(message);
        if !self.actions {
            let place = match (&at.file, at.line) {
                (Some(f), Some(l)) => format!("{}:{}: ", f.display(), l),
                (Some(f), None) => format!("{}: ", f.display()),
                _ => String::new(),
            };
            let place = scrub(&place);
            self.write_lines(self.err(), &format!("{kind}: {place}{message}"));
            return;
        }
        let mut props = Vec::new();
        if let Some(f) = &at.file {
            props.push(format!(
                "file={}",
                escape_property(&scrub(&f.to_string_lossy()))
            ));
        }
        if let Some(l) = at.line {
            props.push(format!("line={l}"));
        }
        if let Some(c) = at.col {
            props.push(format!("col={c}"));
        }
        let props = if props.is_empty() {
            String::new()
        } else {
            format!(" {}", props.join(","))
        };
        // The message may quote AWS (a stop reason): the legacy `##[` must not act either.
        let message = message.replace("##[", "#\u{200b}#[");
        let _ = writeln!(self.out(), "::{kind}{props}::{}", escape_data(&message));
    }

    /// Prints text that came from outside (AWS events, stop reasons, log lines) so that it can
    /// never issue a workflow command: fenced with a random stop-commands token, and each line
    /// neutralised as well.
    pub fn untrusted(&self, lines: &[String]) {
        if lines.is_empty() {
            return;
        }
        self.pending_warnings();
        let text = lines.join("\n");
        if self.actions {
            let token = random_token();
            let _ = writeln!(self.out(), "::stop-commands::{token}");
            self.write_lines(self.out(), &scrub(&text));
            let _ = writeln!(self.out(), "::{token}::");
        } else {
            self.write_lines(self.out(), &scrub(&text));
        }
    }
}

/// The characters that end a line. The runner reads a step's output with .NET's `ReadLine`,
/// which ends a line at `\r`, `\n` and `\r\n`; the Unicode line ends (NEL, LS, PS) end a line
/// in other readers and in the log viewer, so they count too.
fn is_line_end(c: char) -> bool {
    matches!(c, '\n' | '\r' | '\u{85}' | '\u{2028}' | '\u{2029}')
}

/// Splits text into the lines a reader of the log sees (`\r\n` is one line end). Like
/// `str::lines`, a final line end does not start an empty line.
fn lines(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if is_line_end(c) {
            out.push(&text[start..i]);
            let mut next = i + c.len_utf8();
            if c == '\r' && chars.peek().is_some_and(|(_, n)| *n == '\n') {
                chars.next();
                next += 1;
            }
            start = next;
        }
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

/// The lines the printer writes for `text` (already scrubbed): THE line-end policy.
fn printable(text: &str, actions: bool) -> Vec<String> {
    lines(text)
        .into_iter()
        .map(|l| neutralise(l, actions))
        .collect()
}

/// Makes one line (without line ends: see [`lines`]) inert as a workflow command: a `::` that
/// starts the line after blanks (the runner trims the line first), and the legacy `##[`
/// anywhere in it.
fn neutralise(line: &str, actions: bool) -> String {
    if !actions {
        return line.to_string();
    }
    let mut s = line.replace("##[", "#\u{200b}#[");
    if s.trim_start_matches(|c: char| c.is_whitespace() || c.is_control())
        .starts_with("::")
    {
        s.insert(0, '\u{200b}');
    }
    s
}

/// JSON text (`--output json`, a rendered document) made inert for the runner without changing
/// its value: serialised JSON holds no raw line end and no line starts with `::`, but the
/// legacy `##[` is honoured anywhere in a line; it can only occur inside a string, where
/// `\u0023` is the same `#`.
pub fn inert_json(json: &str, actions: bool) -> String {
    if actions {
        json.replace("##[", "\\u0023#[")
    } else {
        json.to_string()
    }
}

/// Writes outputs to `GITHUB_OUTPUT`, each as a heredoc with a fresh random delimiter.
pub fn write_outputs(path: &Path, outputs: &[(String, String)]) -> Result<()> {
    append("GITHUB_OUTPUT", path, &heredocs(outputs, random_token))
}

/// The outputs as the runner reads them: `name<<DELIMITER`, the value, `DELIMITER`, each line
/// ended by `\n`. The runner ends a value at the first line equal to its delimiter, so each
/// delimiter is chosen to occur nowhere in its value: no line of the value, with or without a
/// `\r` around it, can end it early, and a `\r` is just part of the value.
fn heredocs(outputs: &[(String, String)], token: impl Fn() -> String) -> String {
    let mut text = String::new();
    for (name, value) in outputs {
        let value = scrub(value);
        let delimiter = loop {
            let d = format!("ghadelimiter_{}", token());
            if !value.contains(&d) && !name.contains(&d) {
                break d;
            }
        };
        let _ = write!(text, "{name}<<{delimiter}\n{value}\n{delimiter}\n");
    }
    text
}

/// Appends Markdown to the job summary.
pub fn write_summary(path: &Path, markdown: &str) -> Result<()> {
    append("GITHUB_STEP_SUMMARY", path, &scrub(markdown))
}

/// Appends to the file the runner named in `variable`.
fn append(variable: &str, path: &Path, text: &str) -> Result<()> {
    if path.is_dir() {
        bail!(
            "{variable} is {}, which is a directory: it must name a file (the runner sets it); unset it or point it at a file",
            path.display()
        );
    }
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {variable} ({}) to append to it", path.display()))?;
    f.write_all(text.as_bytes())
        .with_context(|| format!("writing to {variable} ({})", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kept(p: &Printer) -> Vec<(Stream, String)> {
        p.held
            .as_ref()
            .unwrap()
            .lock()
            .unwrap()
            .iter()
            .map(|(s, b)| (*s, String::from_utf8_lossy(b).into_owned()))
            .collect()
    }

    #[test]
    fn a_held_printer_keeps_its_lines_in_order_and_neutralised() {
        let plain = Printer {
            actions: false,
            debug: false,
            stderr: false,
            held: None,
        };
        let p = plain.held();
        p.line("one");
        p.line("two");
        p.warning("careful");
        p.line("three");
        assert_eq!(
            kept(&p),
            vec![
                (Stream::Out, "one\ntwo\n".to_string()),
                (Stream::Err, "warning: careful\n".to_string()),
                (Stream::Out, "three\n".to_string()),
            ]
        );
        let actions = Printer {
            actions: true,
            ..plain
        }
        .held();
        actions.line("::add-mask::x");
        actions.warning("w");
        let text: String = kept(&actions).into_iter().map(|(_, t)| t).collect();
        assert!(!text.contains("\n::add-mask::x"), "{text}");
        assert!(!text.starts_with("::add-mask::x"), "{text}");
        assert!(text.contains("::warning::w"), "{text}");
        actions.replay();
        assert!(kept(&actions).is_empty(), "replay empties the buffer");
    }

    #[test]
    fn escaping_follows_the_runner() {
        assert_eq!(escape_data("a%b\r\nc"), "a%25b%0D%0Ac");
        assert_eq!(escape_property("x:y,z"), "x%3Ay%2Cz");
    }

    #[test]
    fn neutralise_defuses_commands() {
        assert_ne!(neutralise("::add-mask::x", true), "::add-mask::x");
        assert!(!neutralise("a ##[set-output name=x]y", true).contains("##["));
        assert_eq!(neutralise("::add-mask::x", false), "::add-mask::x");
    }

    #[test]
    fn outputs_use_heredocs() {
        let dir = std::env::temp_dir().join(format!("gha-test-{}", random_token()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("out");
        write_outputs(&f, &[("result".into(), "a\nb".into())]).unwrap();
        let text = std::fs::read_to_string(&f).unwrap();
        let mut lines = text.lines();
        let first = lines.next().unwrap();
        let delim = first.strip_prefix("result<<").unwrap();
        assert!(delim.starts_with("ghadelimiter_") && delim.len() > 20);
        assert_eq!(lines.collect::<Vec<_>>(), vec!["a", "b", delim]);
    }

    #[test]
    fn a_value_cannot_break_out_of_its_heredoc() {
        let dir = std::env::temp_dir().join(format!("gha-test-{}", random_token()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("out");
        let evil = "x\nghadelimiter_00000000000000000000000000000000\nresult<<EOF\npwned\nEOF";
        write_outputs(&f, &[("stack-outputs".into(), evil.into())]).unwrap();
        let text = std::fs::read_to_string(&f).unwrap();
        // Parse as the runner does: name<<DELIM, lines until DELIM.
        let mut lines = text.lines();
        let header = lines.next().unwrap();
        let (name, delim) = header.split_once("<<").unwrap();
        let body: Vec<&str> = lines.by_ref().take_while(|l| *l != delim).collect();
        assert_eq!(name, "stack-outputs");
        assert_eq!(body.join("\n"), evil);
        assert_eq!(lines.next(), None, "nothing after the one output");
    }

    /// The lines the runner sees in a step's output: .NET's `ReadLine` ends a line at `\r`,
    /// `\n` and `\r\n`.
    fn runner_lines(out: &str) -> Vec<String> {
        out.replace("\r\n", "\n")
            .split(['\r', '\n'])
            .map(str::to_string)
            .collect()
    }

    /// Whether the runner would take this line as a workflow command (v2 `::` after trimming,
    /// or the legacy `##[` anywhere).
    fn is_command(line: &str) -> bool {
        line.trim().starts_with("::") || line.contains("##[")
    }

    #[test]
    fn no_line_end_lets_text_start_a_command() {
        for evil in [
            "family-x\r::warning::pwned",
            "a\r\n::add-mask::x",
            "a\n  \t::set-output name=result::deployed",
            "a\u{85}::error::x\u{2028}::notice::y\u{2029}::debug::z",
            "\r\r::stop-commands::abc",
            "ok ##[set-output name=result;]deployed\r##[warning]x",
            "\u{b}::warning::vertical tab",
        ] {
            let printed = printable(evil, true).join("\n") + "\n";
            for l in runner_lines(&printed) {
                assert!(!is_command(&l), "{l:?} from {evil:?}");
            }
            // Every character but the line ends is still there for the reader.
            let kept: String = printed
                .chars()
                .filter(|c| !is_line_end(*c) && *c != '\u{200b}')
                .collect();
            let want: String = evil.chars().filter(|c| !is_line_end(*c)).collect();
            assert_eq!(kept, want);
        }
        // Outside Actions nothing is a command, but a line end is still a line end.
        assert_eq!(printable("a\rb\r\nc\n", false), vec!["a", "b", "c"]);
        assert_eq!(printable("", true), Vec::<String>::new());
    }

    #[test]
    fn json_for_the_log_keeps_its_value_and_issues_no_command() {
        let v = serde_json::json!({"a": "x ##[set-output name=result]pwned", "b": "\\##[", "c": "\r::warning::y"});
        for text in [v.to_string(), serde_json::to_string_pretty(&v).unwrap()] {
            let printed = inert_json(&text, true);
            for l in runner_lines(&printed) {
                assert!(!is_command(&l), "{l:?}");
            }
            let back: serde_json::Value = serde_json::from_str(&printed).unwrap();
            assert_eq!(back, v);
        }
        assert_eq!(inert_json("{\"a\":\"##[\"}", false), "{\"a\":\"##[\"}");
    }

    #[test]
    fn a_value_with_a_carriage_return_or_the_delimiter_stays_one_output() {
        let tokens = std::cell::RefCell::new(vec![
            "third".to_string(),
            "second".to_string(),
            "first".to_string(),
        ]);
        let token = || tokens.borrow_mut().pop().unwrap();
        let evil = "x\r\nghadelimiter_first\r\nresult<<EOF\rpwned\nEOF";
        let text = heredocs(
            &[
                ("stack-outputs".into(), evil.into()),
                ("result".into(), "deployed".into()),
            ],
            token,
        );
        // Parse as the runner does: name<<DELIM, then lines (split at \n) until DELIM.
        let mut lines = text.split('\n');
        let (name, delim) = lines.next().unwrap().split_once("<<").unwrap();
        assert_eq!((name, delim), ("stack-outputs", "ghadelimiter_second"));
        let body: Vec<&str> = lines
            .by_ref()
            .take_while(|l| l.trim_end_matches('\r') != delim)
            .collect();
        assert_eq!(body.join("\n"), evil);
        assert!(lines.next().unwrap().starts_with("result<<"));
    }

    #[test]
    fn a_directory_for_outputs_or_summary_is_named() {
        let dir = std::env::temp_dir().join(format!("gha-test-{}", random_token()));
        std::fs::create_dir_all(&dir).unwrap();
        let e = format!(
            "{:#}",
            write_outputs(&dir, &[("result".into(), "failed".into())]).unwrap_err()
        );
        assert!(
            e.contains("GITHUB_OUTPUT") && e.contains(&dir.display().to_string()),
            "{e}"
        );
        assert!(e.contains("is a directory"), "{e}");
        let e = format!("{:#}", write_summary(&dir, "x").unwrap_err());
        assert!(e.starts_with("GITHUB_STEP_SUMMARY is "), "{e}");
        let missing = dir.join("no/such/file");
        let e = format!("{:#}", write_summary(&missing, "x").unwrap_err());
        assert!(
            e.contains("GITHUB_STEP_SUMMARY") && e.contains("no/such/file"),
            "{e}"
        );
    }

    #[test]
    fn inputs_skip_empty_values() {
        let rt = Runtime::from_map(BTreeMap::from([
            ("INPUT_CLUSTER".to_string(), "c".to_string()),
            ("INPUT_SERVICE".to_string(), "  ".to_string()),
            ("INPUT_TASK-DEFINITION".to_string(), "t.json".to_string()),
        ]));
        let inputs = rt.inputs();
        assert_eq!(inputs.get("cluster").map(String::as_str), Some("c"));
        assert_eq!(inputs.get("service"), None);
        assert_eq!(
            inputs.get("task-definition").map(String::as_str),
            Some("t.json")
        );
    }
}
