//! Task-definition documents and `${VAR}` substitution (DESIGN.md section 3).
//!
//! This module owns turning a task-definition file (JSON or YAML) into a
//! `serde_json::Value` and filling its `${NAME}` / `${NAME:-default}`
//! placeholders from the environment. The document is parsed before anything
//! is substituted and only string values are touched, so a substituted value
//! can never change the shape of the document. Strings that are exactly one
//! placeholder in a field ECS types as a number or boolean are coerced. Every
//! problem in a document is reported at once, with its line in the source.
//! Names that carry runner or AWS credentials are refused, and secret-looking
//! names landing in a container's plain `environment` raise a warning.

use serde_json::Value;
use std::collections::{HashMap, HashSet};

pub use crate::document::Problem;

/// One substitution that happened, for redaction and warnings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Used {
    pub name: String,
    /// The value substituted (default included); may be empty when the
    /// variable is set to the empty string and has no default.
    pub value: String,
    /// JSON pointer of the string it landed in, e.g. "/containerDefinitions/0/environment/2/value".
    pub pointer: String,
}

/// The substituted document plus what went into it.
#[derive(Debug, Clone, PartialEq)]
pub struct Substituted {
    pub doc: Value,
    pub used: Vec<Used>,
    pub warnings: Vec<String>,
}

const FORBIDDEN_PREFIXES: &[&str] = &["ACTIONS_", "RUNNER_", "INPUT_"];
const FORBIDDEN_NAMES: &[&str] = &[
    "GITHUB_TOKEN",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_WEB_IDENTITY_TOKEN_FILE",
];

const NUMBER_FIELDS: &[&str] = &[
    "cpu",
    "memory",
    "memoryReservation",
    "containerPort",
    "hostPort",
    "startTimeout",
    "stopTimeout",
    "interval",
    "timeout",
    "retries",
    "startPeriod",
    "softLimit",
    "hardLimit",
    "sharedMemorySize",
    "maxSwap",
    "swappiness",
    "size",
];
const BOOL_FIELDS: &[&str] = &[
    "essential",
    "privileged",
    "readonlyRootFilesystem",
    "disableNetworking",
    "interactive",
    "pseudoTerminal",
    "initProcessEnabled",
    "readOnly",
];
/// Free-form string maps inside a container: their keys are user data, so a
/// key that happens to be called `timeout` there is not the ECS field.
const STRING_MAPS: &[&str] = &["dockerLabels", "options", "secretOptions"];

/// What a stack output stands for before the stack is deployed (its value is known after).
pub fn stack_placeholder(key: &str) -> String {
    format!("(stack output {key})")
}

/// Whether a whole value is a stack output's placeholder.
pub fn is_stack_placeholder(s: &str) -> bool {
    s.strip_prefix("(stack output ")
        .and_then(|rest| rest.strip_suffix(')'))
        .is_some_and(|key| !key.is_empty() && !key.contains(char::is_whitespace))
}

/// True for names that are never substituted (credential carriers).
///
/// Compared case-insensitively because environment names are
/// case-insensitive on Windows runners.
pub fn is_forbidden(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    FORBIDDEN_PREFIXES.iter().any(|p| upper.starts_with(p))
        || FORBIDDEN_NAMES.contains(&upper.as_str())
}

/// True for names that look secret (PASSWORD, SECRET, TOKEN, *_KEY).
pub fn looks_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    upper.contains("PASSWORD")
        || upper.contains("SECRET")
        || upper.contains("TOKEN")
        || upper.ends_with("_KEY")
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    match chars.next() {
        Some(c) if c.is_ascii_alphabetic() || c == '_' => {}
        _ => return false,
    }
    chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

// ---------------------------------------------------------------------------
// Scanning one string
// ---------------------------------------------------------------------------

enum Piece {
    Lit(String),
    Var {
        name: String,
        /// The pieces of `${NAME:-default}`'s default, which may hold placeholders itself.
        default: Option<Vec<Piece>>,
    },
}

enum ScanError {
    Invalid { name: String, raw: String },
    Unclosed { tail: String },
    UnclosedDefault { name: String, tail: String },
    TooDeep { raw: String },
}

/// The deepest `${A:-${B:-${C}}}` nesting of defaults accepted.
const MAX_DEFAULT_NESTING: usize = 8;

fn scan(s: &str) -> (Vec<Piece>, Vec<ScanError>) {
    let mut errors = Vec::new();
    let (pieces, _) = scan_in(s, 0, &mut errors);
    (pieces, errors)
}

/// Scans `s` to its end (`depth` 0) or to the `}` that closes the default being scanned
/// (`depth` > 0), returning the pieces and the text after that `}` (None: never closed).
/// Only `${` opens a nested placeholder, so a plain `{` in a default stays literal.
fn scan_in<'a>(
    s: &'a str,
    depth: usize,
    errors: &mut Vec<ScanError>,
) -> (Vec<Piece>, Option<&'a str>) {
    let mut pieces = Vec::new();
    let mut lit = String::new();
    let mut rest = s;
    let closing = |t: &str| {
        if depth == 0 {
            t.find('$')
        } else {
            t.find(['$', '}'])
        }
    };
    while let Some(i) = closing(rest) {
        lit.push_str(&rest[..i]);
        if rest[i..].starts_with('}') {
            if !lit.is_empty() {
                pieces.push(Piece::Lit(lit));
            }
            return (pieces, Some(&rest[i + 1..]));
        }
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            lit.push('$');
            rest = r;
            continue;
        }
        let Some(body) = after.strip_prefix('{') else {
            // A bare `$NAME`, `$(cmd)` or trailing `$` belongs to the
            // container's shell at run time.
            lit.push('$');
            rest = after;
            continue;
        };
        let tail = &rest[i..];
        let close = body.find('}');
        let default_at = body.find(":-").filter(|p| close.is_none_or(|c| *p < c));
        match (close, default_at) {
            (None, None) => {
                errors.push(ScanError::Unclosed {
                    tail: tail.to_string(),
                });
                rest = "";
                break;
            }
            (Some(j), None) => {
                let name = &body[..j];
                if is_name(name) {
                    if !lit.is_empty() {
                        pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                    }
                    pieces.push(Piece::Var {
                        name: name.to_string(),
                        default: None,
                    });
                } else {
                    errors.push(ScanError::Invalid {
                        name: name.to_string(),
                        raw: name.to_string(),
                    });
                }
                rest = &body[j + 1..];
            }
            (_, Some(p)) => {
                let name = &body[..p];
                if depth + 1 > MAX_DEFAULT_NESTING {
                    errors.push(ScanError::TooDeep {
                        raw: tail.to_string(),
                    });
                    rest = "";
                    break;
                }
                let (default, after_default) = scan_in(&body[p + 2..], depth + 1, errors);
                let Some(after_default) = after_default else {
                    // Too deep is the one error for the whole placeholder.
                    if errors
                        .iter()
                        .any(|e| matches!(e, ScanError::TooDeep { .. }))
                    {
                        rest = "";
                        break;
                    }
                    errors.push(if is_name(name) {
                        ScanError::UnclosedDefault {
                            name: name.to_string(),
                            tail: tail.to_string(),
                        }
                    } else {
                        ScanError::Unclosed {
                            tail: tail.to_string(),
                        }
                    });
                    rest = "";
                    break;
                };
                if is_name(name) {
                    if !lit.is_empty() {
                        pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                    }
                    pieces.push(Piece::Var {
                        name: name.to_string(),
                        default: Some(default),
                    });
                } else {
                    let raw = &body[..body.len() - after_default.len() - 1];
                    errors.push(ScanError::Invalid {
                        name: name.to_string(),
                        raw: raw.to_string(),
                    });
                }
                rest = after_default;
            }
        }
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        pieces.push(Piece::Lit(lit));
    }
    (pieces, if depth == 0 { Some("") } else { None })
}

// ---------------------------------------------------------------------------
// Locating problems in the source text
// ---------------------------------------------------------------------------

/// How to find the source lines a problem came from, since the parsed
/// `Value` carries no positions. Every needle starts with `${`.
struct Needle {
    text: String,
    /// The match must be followed by one of these (empty: anything).
    followed_by: &'static [&'static str],
    /// The match must not be followed by this.
    not_followed_by: Option<char>,
    /// Prefer lines where this (the field name of a coercion) comes shortly before.
    prefer_line_with: Option<String>,
}

impl Needle {
    fn exact(text: String) -> Self {
        Needle {
            text,
            followed_by: &[],
            not_followed_by: None,
            prefer_line_with: None,
        }
    }

    /// True when the needle matches at byte `idx` of `line`.
    fn matches_at(&self, line: &str, idx: usize) -> bool {
        if !line[idx..].starts_with(&self.text) {
            return false;
        }
        let after = &line[idx + self.text.len()..];
        if !self.followed_by.is_empty() && !self.followed_by.iter().any(|f| after.starts_with(f)) {
            return false;
        }
        if self.not_followed_by.is_some_and(|c| after.starts_with(c)) {
            return false;
        }
        // An odd run of `$` before the match means its `$` is the second
        // half of a `$$` escape, i.e. literal text.
        let dollars = line[..idx].bytes().rev().take_while(|&c| c == b'$').count();
        dollars % 2 == 0
    }
}

/// How far before a placeholder the field name of a coercion problem is looked for.
const FIELD_WINDOW: usize = 200;

/// Every `${` of the source, indexed once by the text that follows it, so that finding the
/// lines of all problems costs one pass over the file plus the hits (10,000 unset variables
/// took 56 s when each was searched for in the whole file).
struct Locator<'a> {
    lines: Vec<&'a str>,
    /// (line index, byte offset, 1-based column in chars) of each `${`, by its key.
    index: HashMap<&'a str, Vec<(usize, usize, usize)>>,
}

/// The part of a placeholder that names it: after `${`, up to a character that cannot be
/// part of a name as it is written in a JSON or YAML source.
fn key_of(after_brace: &str) -> &str {
    let end = after_brace
        .find(|c: char| "}:${\"'\\".contains(c) || c.is_whitespace())
        .unwrap_or(after_brace.len());
    let mut end = end.min(64);
    while !after_brace.is_char_boundary(end) {
        end -= 1;
    }
    &after_brace[..end]
}

impl<'a> Locator<'a> {
    fn new(source: &'a str) -> Self {
        let lines: Vec<&str> = crate::document::strip_bom(source).lines().collect();
        let mut index: HashMap<&str, Vec<(usize, usize, usize)>> = HashMap::new();
        for (n, line) in lines.iter().enumerate() {
            let (mut chars, mut counted) = (0usize, 0usize);
            for (off, _) in line.match_indices("${") {
                chars += line[counted..off].chars().count();
                counted = off;
                index
                    .entry(key_of(&line[off + 2..]))
                    .or_default()
                    .push((n, off, chars + 1));
            }
        }
        Locator { lines, index }
    }

    /// (line, column) of the first match of `needle` on each line, 1-based.
    fn locate(&self, needle: &Needle) -> Vec<(usize, usize)> {
        let key = key_of(needle.text.get(2..).unwrap_or_default());
        let Some(spots) = self.index.get(key) else {
            return Vec::new();
        };
        let hits = |want: Option<&str>| -> Vec<(usize, usize)> {
            let mut out: Vec<(usize, usize)> = Vec::new();
            for &(n, off, col) in spots {
                if out.last().is_some_and(|(l, _)| *l == n + 1) {
                    continue;
                }
                let line = self.lines[n];
                if !needle.matches_at(line, off) {
                    continue;
                }
                if let Some(w) = want {
                    let mut from = off.saturating_sub(FIELD_WINDOW);
                    while !line.is_char_boundary(from) {
                        from -= 1;
                    }
                    if !line[from..off].contains(w) {
                        continue;
                    }
                }
                out.push((n + 1, col));
            }
            out
        };
        if let Some(w) = &needle.prefer_line_with {
            let preferred = hits(Some(w));
            if !preferred.is_empty() {
                return preferred;
            }
        }
        hits(None)
    }
}

// ---------------------------------------------------------------------------
// Substitution
// ---------------------------------------------------------------------------

#[derive(Clone)]
enum Seg {
    Key(String),
    Index(usize),
}

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

fn pointer_of(path: &[Seg]) -> String {
    let mut out = String::new();
    for seg in path {
        out.push('/');
        match seg {
            Seg::Key(k) => out.push_str(&escape_pointer(k)),
            Seg::Index(i) => out.push_str(&i.to_string()),
        }
    }
    out
}

fn key_is(seg: Option<&Seg>, want: &str) -> bool {
    matches!(seg, Some(Seg::Key(k)) if k == want)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Typed {
    Number,
    Bool,
}

/// The ECS type of the field at `path`, when it is not a string.
fn typed_field(path: &[Seg]) -> Option<Typed> {
    let Some(Seg::Key(last)) = path.last() else {
        return None;
    };
    let in_container = path.len() >= 3
        && key_is(path.first(), "containerDefinitions")
        && matches!(path.get(1), Some(Seg::Index(_)));
    if in_container {
        let inside_string_map = path[2..path.len() - 1]
            .iter()
            .any(|s| matches!(s, Seg::Key(k) if STRING_MAPS.contains(&k.as_str())));
        if inside_string_map {
            return None;
        }
        if NUMBER_FIELDS.contains(&last.as_str()) {
            return Some(Typed::Number);
        }
        if BOOL_FIELDS.contains(&last.as_str()) {
            return Some(Typed::Bool);
        }
        return None;
    }
    // Task-level `cpu` and `memory` are strings in the ECS API; only this one
    // task-level field is numeric.
    if path.len() == 2 && key_is(path.first(), "ephemeralStorage") && last == "sizeInGiB" {
        return Some(Typed::Number);
    }
    None
}

fn coerce(value: &str, typed: Typed) -> Option<Value> {
    let v = value.trim();
    match typed {
        Typed::Number => v
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| v.parse::<u64>().map(Value::from))
            .ok(),
        Typed::Bool => match v.to_ascii_lowercase().as_str() {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
    }
}

struct Walker<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    used: Vec<Used>,
    /// Problems in the order found; one cause is reported once per line.
    problems: Vec<(String, Needle)>,
    /// The messages in `problems`, so a repeated cause is found in constant time.
    reported: HashSet<String>,
    /// (variable, container index) pairs for secret-looking names in `environment`.
    secret_env: Vec<(String, usize)>,
}

impl Walker<'_> {
    fn problem(&mut self, message: String, needle: Needle) {
        if self.reported.insert(message.clone()) {
            self.problems.push((message, needle));
        }
    }

    fn walk(&mut self, v: &Value, path: &mut Vec<Seg>) -> Value {
        match v {
            Value::String(s) => self.string(s, path),
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        path.push(Seg::Index(i));
                        let out = self.walk(item, path);
                        path.pop();
                        out
                    })
                    .collect(),
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, item)| {
                        path.push(Seg::Key(k.clone()));
                        let out = self.walk(item, path);
                        path.pop();
                        (k.clone(), out)
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    fn string(&mut self, s: &str, path: &[Seg]) -> Value {
        if !s.contains('$') {
            return Value::String(s.to_string());
        }
        let (pieces, errors) = scan(s);
        let mut failed = !errors.is_empty();
        for e in errors {
            self.scan_problem(e);
        }
        let pointer = pointer_of(path);
        let mut out = String::new();
        if !self.expand(&pieces, &pointer, path, &mut out) {
            failed = true;
        }
        if failed {
            return Value::String(s.to_string());
        }
        if let ([Piece::Var { name, .. }], Some(typed)) = (pieces.as_slice(), typed_field(path)) {
            if let Some(v) = coerce(&out, typed) {
                return v;
            }
            let field = match path.last() {
                Some(Seg::Key(k)) => k.clone(),
                _ => String::new(),
            };
            let (kind, example) = match typed {
                Typed::Number => ("a whole number", "8080"),
                Typed::Bool => ("true or false", "true"),
            };
            self.problem(
                format!(
                    "field {field} at {pointer} must be {kind}, but variable {name} does not hold one: set {name} to {kind}, e.g. {example}"
                ),
                Needle {
                    prefer_line_with: Some(field.clone()),
                    ..Needle::exact(format!("${{{name}"))
                },
            );
        }
        Value::String(out)
    }

    /// Appends the value of `pieces` to `out`; false when a variable could not be resolved.
    /// A default is expanded only when it is used (`${A:-${B}}` needs B only when A is unset
    /// or empty, as in a shell), but credential names are refused wherever they appear.
    fn expand(&mut self, pieces: &[Piece], pointer: &str, path: &[Seg], out: &mut String) -> bool {
        let mut ok = true;
        for piece in pieces {
            match piece {
                Piece::Lit(l) => out.push_str(l),
                Piece::Var { name, default } => {
                    if let Some(d) = default {
                        self.refuse_credentials(d);
                    }
                    if is_forbidden(name) {
                        self.forbidden(name);
                        ok = false;
                        continue;
                    }
                    // A default is the file's own text (a variable inside it is noted on
                    // its own): it is neither secret nor a copied credential.
                    let value = match ((self.lookup)(name), default) {
                        (Some(v), Some(d)) if v.is_empty() => {
                            self.note_secret_env(name, path);
                            ok &= self.expand(d, pointer, path, out);
                            continue;
                        }
                        (Some(v), _) => Some(v),
                        (None, Some(d)) => {
                            self.note_secret_env(name, path);
                            ok &= self.expand(d, pointer, path, out);
                            continue;
                        }
                        (None, None) => {
                            self.problem(
                                format!(
                                    "variable {name} is not set: export it in the workflow step's env, or give a default with ${{{name}:-value}}"
                                ),
                                Needle::exact(format!("${{{name}}}")),
                            );
                            None
                        }
                    };
                    match value {
                        Some(value) => {
                            out.push_str(&value);
                            self.note_use(name, value, pointer, path);
                        }
                        None => ok = false,
                    }
                }
            }
        }
        ok
    }

    fn refuse_credentials(&mut self, pieces: &[Piece]) {
        for piece in pieces {
            if let Piece::Var { name, default } = piece {
                if is_forbidden(name) {
                    self.forbidden(name);
                }
                if let Some(d) = default {
                    self.refuse_credentials(d);
                }
            }
        }
    }

    fn forbidden(&mut self, name: &str) {
        self.problem(
            format!(
                "variable {name} carries runner or AWS credentials and is never substituted: anyone who can edit a task-definition file could otherwise copy the token into ECS; pass the value through a `secrets` entry backed by SSM Parameter Store or Secrets Manager instead"
            ),
            Needle {
                followed_by: &["}", ":-"],
                ..Needle::exact(format!("${{{name}"))
            },
        );
    }

    fn note_use(&mut self, name: &str, value: String, pointer: &str, path: &[Seg]) {
        self.note_secret_env(name, path);
        self.used.push(Used {
            name: name.to_string(),
            value,
            pointer: pointer.to_string(),
        });
    }

    /// A variable whose name looks secret, landing in a container's plain `environment`: the
    /// warning recommends `secrets` (its default too: ECS stores the value in plain text).
    fn note_secret_env(&mut self, name: &str, path: &[Seg]) {
        let in_env_value = path.len() == 5
            && key_is(path.first(), "containerDefinitions")
            && key_is(path.get(2), "environment")
            && matches!(path.get(3), Some(Seg::Index(_)))
            && key_is(path.get(4), "value");
        if in_env_value && looks_secret(name) {
            if let Some(Seg::Index(c)) = path.get(1) {
                if !self.secret_env.iter().any(|(n, i)| n == name && i == c) {
                    self.secret_env.push((name.to_string(), *c));
                }
            }
        }
    }

    fn scan_problem(&mut self, e: ScanError) {
        match e {
            ScanError::Invalid { name, raw } => self.problem(
                format!(
                    "invalid variable name {name:?} in ${{{raw}}}: names must match [A-Za-z_][A-Za-z0-9_]*; write $$ for a literal $"
                ),
                Needle::exact(format!("${{{raw}}}")),
            ),
            ScanError::Unclosed { tail } => {
                let first_line = tail.lines().next().unwrap_or_default().to_string();
                self.problem(
                    format!(
                        "placeholder {} is never closed: add the closing }}, or write $$ for a literal $",
                        shorten(&first_line)
                    ),
                    Needle {
                        not_followed_by: Some('}'),
                        ..Needle::exact(first_line)
                    },
                )
            }
            ScanError::UnclosedDefault { name, tail } => {
                let first_line = tail.lines().next().unwrap_or_default().to_string();
                self.problem(
                    format!(
                        "the default for variable {name} is never closed: add }} after the default value, e.g. ${{{name}:-value}}"
                    ),
                    Needle {
                        not_followed_by: Some('}'),
                        ..Needle::exact(first_line)
                    },
                )
            }
            ScanError::TooDeep { raw } => {
                let first_line = raw.lines().next().unwrap_or_default().to_string();
                self.problem(
                    format!(
                        "placeholder {} nests defaults more than {MAX_DEFAULT_NESTING} deep (${{A:-${{B:-...}}}}): flatten it",
                        shorten(&first_line)
                    ),
                    Needle::exact(first_line),
                )
            }
        }
    }
}

fn shorten(s: &str) -> String {
    const MAX: usize = 40;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        format!("{}...", s.chars().take(MAX).collect::<String>())
    }
}

/// Substitutes inside every string value of `doc`. `source` is the original file text (for line numbers).
/// `lookup` returns the variable's value, or None when unset.
pub fn substitute(
    doc: &Value,
    source: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Substituted, Vec<Problem>> {
    let mut walker = Walker {
        lookup,
        used: Vec::new(),
        problems: Vec::new(),
        reported: HashSet::new(),
        secret_env: Vec::new(),
    };
    let out = walker.walk(doc, &mut Vec::new());

    if !walker.problems.is_empty() {
        let locator = Locator::new(source);
        let mut problems = Vec::new();
        for (message, needle) in walker.problems {
            let hits = locator.locate(&needle);
            if hits.is_empty() {
                problems.push(Problem {
                    line: None,
                    column: None,
                    message,
                });
            } else {
                problems.extend(hits.into_iter().map(|(line, column)| Problem {
                    line: Some(line),
                    column: Some(column),
                    message: message.clone(),
                }));
            }
        }
        // Stable: problems on the same line keep document order; unknown last.
        problems.sort_by_key(|p| (p.line.is_none(), p.line, p.column));
        return Err(problems);
    }

    let warnings = walker
        .secret_env
        .iter()
        .map(|(name, idx)| {
            let container = out
                .pointer(&format!("/containerDefinitions/{idx}/name"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| format!("#{idx}"));
            format!(
                "variable {name} looks secret and is substituted into the plain `environment` of container {container}: ECS stores `environment` in plain text, readable by anyone with ecs:DescribeTaskDefinition; move it to the container's `secrets` with an SSM Parameter Store parameter or a Secrets Manager secret"
            )
        })
        .collect();

    Ok(Substituted {
        doc: out,
        used: walker.used,
        warnings,
    })
}

/// The variable an "variable NAME is not set" problem is about: where `variable ` starts in
/// the message, and the name. Lets a caller that knows more about a variable (a Terraform
/// state, a value that is not UTF-8) say so in the same problem.
pub(crate) fn unset_variable(message: &str) -> Option<(usize, &str)> {
    let start = message.find("variable ")?;
    let rest = &message[start + 9..];
    let len = rest
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(rest.len());
    rest[len..]
        .starts_with(" is not set")
        .then_some((start, &rest[..len]))
}

/// A variable that is set to a value that is not UTF-8 text is reported as that, not as
/// "not set" (the environment snapshot leaves such values out: `Runtime::not_utf8`).
pub(crate) fn explain_not_utf8(
    f: crate::error::Failure,
    names: &std::collections::BTreeSet<String>,
) -> crate::error::Failure {
    use crate::error::{Failure, InputProblem};
    let Failure::Input(problems) = f else {
        return f;
    };
    let problems = problems
        .into_iter()
        .map(|p| match unset_variable(&p.message) {
            Some((start, name)) if names.contains(name) => InputProblem::at(
                p.at.clone(),
                format!(
                    "{}variable {name} is set, but its value is not UTF-8 text: task definitions are JSON, which holds only Unicode; set it to a UTF-8 value (base64-encode binary data)",
                    &p.message[..start]
                ),
            ),
            _ => p,
        })
        .collect();
    Failure::Input(problems)
}

#[cfg(test)]
mod tests {

    #[test]
    fn an_unset_variable_is_found_in_its_message_and_a_non_utf8_one_is_named() {
        use crate::error::{Failure, InputProblem};
        assert_eq!(
            unset_variable("aws/app.json line 3: variable DB_PORT is not set: export it"),
            Some((21, "DB_PORT"))
        );
        assert_eq!(unset_variable("variable DB_PORT is forbidden"), None);
        let f = Failure::Input(vec![
            InputProblem::new("app.json: variable RAW is not set: export it"),
            InputProblem::new("app.json: variable OTHER is not set: export it"),
        ]);
        let names = std::collections::BTreeSet::from(["RAW".to_string()]);
        let Failure::Input(p) = explain_not_utf8(f, &names) else {
            panic!("still an input failure")
        };
        assert!(p[0]
            .message
            .starts_with("app.json: variable RAW is set, but its value is not UTF-8 text"));
        assert_eq!(
            p[1].message,
            "app.json: variable OTHER is not set: export it"
        );
    }
    use super::*;
    use crate::document::{self, Kind};
    use serde_json::json;
    use std::path::Path;
    use std::time::{Duration, Instant};

    fn parse_document(path: &Path, text: &str) -> Result<Value, Problem> {
        document::parse(path, text, Kind::TaskDefinition)
    }

    fn vars(name: &str) -> Option<String> {
        let v = match name {
            "DB_HOST" => "db.internal",
            "IMAGE_TAG" => "v1.2.3",
            "EMPTY" => "",
            "PORT" => "8080",
            "ESSENTIAL" => "true",
            "WORD" => "abc",
            "CPU" => "256",
            "DISK" => "30",
            "DJANGO_SECRET_KEY" => "s3cr3t-value-xyz",
            "GITHUB_TOKEN" => "ghs_leak",
            "AWS_REGION" => "eu-west-1",
            "GITHUB_SHA" => "abc123",
            "EVIL" => "a\"b\\c\nd\",\"privileged\":true,\"x\":\"",
            _ => return None,
        };
        Some(v.to_string())
    }

    fn run(path: &str, source: &str) -> Result<Substituted, Vec<Problem>> {
        let doc = parse_document(Path::new(path), source).expect("parses");
        substitute(&doc, source, &vars)
    }

    /// Substitutes one string value; `Ok` is the expected result, `Err` a
    /// fragment every reported problem must contain.
    fn check(input: &str, expected: Result<&str, &str>) {
        let doc = json!({ "family": input });
        let source = serde_json::to_string_pretty(&doc).unwrap();
        match (substitute(&doc, &source, &vars), expected) {
            (Ok(s), Ok(want)) => assert_eq!(s.doc["family"], json!(want), "input {input:?}"),
            (Err(problems), Err(want)) => {
                assert!(!problems.is_empty(), "input {input:?}");
                for p in &problems {
                    assert!(p.message.contains(want), "input {input:?}: {p:?}");
                }
            }
            (got, want) => panic!("input {input:?}: got {got:?}, want {want:?}"),
        }
    }

    #[test]
    fn string_substitution_rules() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            ("${DB_HOST}", Ok("db.internal")),
            ("host=${DB_HOST}:${PORT}", Ok("host=db.internal:8080")),
            ("${MISSING:-fallback}", Ok("fallback")),
            ("${EMPTY:-fallback}", Ok("fallback")),
            ("${EMPTY}", Ok("")),
            ("${DB_HOST:-fallback}", Ok("db.internal")),
            ("${MISSING:-}", Ok("")),
            ("${MISSING:-a:-b{c}", Ok("a:-b{c")),
            ("cost $$5", Ok("cost $5")),
            ("$${DB_HOST}", Ok("${DB_HOST}")),
            ("$$$${DB_HOST}", Ok("$${DB_HOST}")),
            ("$$$$${DB_HOST}", Ok("$$db.internal")),
            (
                "echo $HOME $(date) $1 100$",
                Ok("echo $HOME $(date) $1 100$"),
            ),
            ("${AWS_REGION}/${GITHUB_SHA}", Ok("eu-west-1/abc123")),
            ("no placeholders", Ok("no placeholders")),
            ("${DB_HOST", Err("is never closed")),
            ("x ${", Err("is never closed")),
            (
                "${MISSING:-oops",
                Err("default for variable MISSING is never closed"),
            ),
            ("${1X}", Err("invalid variable name \"1X\"")),
            ("${A-B}", Err("invalid variable name \"A-B\"")),
            ("${}", Err("invalid variable name \"\"")),
            ("${MISSING}", Err("variable MISSING is not set")),
            ("${GITHUB_TOKEN}", Err("never substituted")),
            ("${GITHUB_TOKEN:-x}", Err("never substituted")),
            ("${AWS_ACCESS_KEY_ID}", Err("never substituted")),
            ("${AWS_SECRET_ACCESS_KEY}", Err("never substituted")),
            ("${AWS_SESSION_TOKEN}", Err("never substituted")),
            ("${AWS_WEB_IDENTITY_TOKEN_FILE}", Err("never substituted")),
            ("${ACTIONS_RUNTIME_TOKEN}", Err("never substituted")),
            ("${RUNNER_TEMP}", Err("never substituted")),
            ("${INPUT_PASSWORD}", Err("never substituted")),
        ];
        for (input, expected) in cases {
            check(input, *expected);
        }
    }

    #[test]
    fn nested_defaults_are_substituted() {
        let cases: &[(&str, Result<&str, &str>)] = &[
            // Before: the first `}` closed the placeholder and `${B}` was registered as text.
            ("${MISSING:-${DB_HOST}}", Ok("db.internal")),
            ("${EMPTY:-${MISSING:-${PORT}}}/x", Ok("8080/x")),
            ("${DB_HOST:-${MISSING}}", Ok("db.internal")),
            ("${MISSING:-a-${PORT}-b}", Ok("a-8080-b")),
            ("${MISSING:-{$${PORT}}}", Ok("{${PORT}}")),
            ("${MISSING:-${NOPE}}", Err("variable NOPE is not set")),
            ("${DB_HOST:-${GITHUB_TOKEN}}", Err("never substituted")),
            (
                "${MISSING:-${PORT}",
                Err("default for variable MISSING is never closed"),
            ),
            ("${MISSING:-${1X}}", Err("invalid variable name \"1X\"")),
            (
                "${A:-${A:-${A:-${A:-${A:-${A:-${A:-${A:-${A:-x}}}}}}}}}",
                Err("nests defaults more than 8 deep"),
            ),
        ];
        for (input, expected) in cases {
            check(input, *expected);
        }
        let src = r#"{"family": "f", "containerDefinitions": [{"name": "web", "environment": [{"name": "A", "value": "${MISSING:-${DB_HOST}}"}]}]}"#;
        let out = run("t.json", src).unwrap();
        let used: Vec<(&str, &str)> = out
            .used
            .iter()
            .map(|u| (u.name.as_str(), u.value.as_str()))
            .collect();
        // A default is the file's text: only the variable inside it is a use.
        assert_eq!(used, vec![("DB_HOST", "db.internal")]);
    }

    /// 10,000 unset variables took 56 s to report: each problem's line was searched for in
    /// the whole file.
    #[test]
    fn many_problems_are_located_in_one_pass() {
        let n = 10_000;
        let env: Vec<Value> = (0..n)
            .map(|i| json!({"name": format!("V{i}"), "value": format!("${{UNSET_{i}}}")}))
            .collect();
        let doc =
            json!({"family": "f", "containerDefinitions": [{"name": "a", "environment": env}]});
        let source = serde_json::to_string_pretty(&doc).unwrap();
        let start = Instant::now();
        let problems = substitute(&doc, &source, &vars).unwrap_err();
        let took = start.elapsed();
        assert!(took < Duration::from_secs(10), "{took:?}");
        assert_eq!(problems.len(), n);
        let last = problems.last().unwrap();
        assert!(last.message.contains("UNSET_9999 "), "{last:?}");
        let line = source
            .lines()
            .position(|l| l.contains("${UNSET_9999}"))
            .unwrap();
        assert_eq!(last.line, Some(line + 1));
        // One long line (minified JSON) costs no more.
        let minified = serde_json::to_string(&doc).unwrap();
        let start = Instant::now();
        let problems = substitute(&doc, &minified, &vars).unwrap_err();
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
        assert!(problems.iter().all(|p| p.line == Some(1)));
        let col = minified.find("${UNSET_5}").unwrap() + 1;
        assert!(problems.iter().any(|p| p.column == Some(col)));
    }

    #[test]
    fn messages_say_the_fix() {
        let missing = run("t.json", r#"{"family": "${DB_PORT}"}"#).unwrap_err();
        assert_eq!(
            missing[0].message,
            "variable DB_PORT is not set: export it in the workflow step's env, or give a default with ${DB_PORT:-value}"
        );
        let forbidden = run("t.json", r#"{"family": "${GITHUB_TOKEN}"}"#).unwrap_err();
        let msg = &forbidden[0].message;
        assert!(msg.contains("copy the token into ECS"), "{msg}");
        assert!(msg.contains("secrets"), "{msg}");
        assert!(msg.contains("Secrets Manager"), "{msg}");
        assert!(!msg.contains("ghs_leak"), "{msg}");
    }

    #[test]
    fn forbidden_and_secret_name_predicates() {
        for name in [
            "ACTIONS_ID_TOKEN_REQUEST_TOKEN",
            "RUNNER_TEMP",
            "INPUT_TOKEN",
            "GITHUB_TOKEN",
            "AWS_ACCESS_KEY_ID",
            "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN",
            "AWS_WEB_IDENTITY_TOKEN_FILE",
        ] {
            assert!(is_forbidden(name), "{name}");
        }
        for name in [
            "AWS_REGION",
            "GITHUB_SHA",
            "GITHUB_REF_NAME",
            "IMAGE_TAG",
            "MY_ACTIONS",
        ] {
            assert!(!is_forbidden(name), "{name}");
        }
        for name in [
            "DB_PASSWORD",
            "DJANGO_SECRET_KEY",
            "api_token",
            "STRIPE_KEY",
            "secret",
        ] {
            assert!(looks_secret(name), "{name}");
        }
        for name in ["IMAGE_TAG", "KEYCLOAK_URL", "DB_HOST", "MONKEY"] {
            assert!(!looks_secret(name), "{name}");
        }
    }

    fn lines_of(problems: &[Problem], fragment: &str) -> Vec<Option<usize>> {
        problems
            .iter()
            .filter(|p| p.message.contains(fragment))
            .map(|p| p.line)
            .collect()
    }

    #[test]
    fn all_missing_names_reported_with_lines_json() {
        let src = r#"{
  "family": "${FAMILY}",
  "containerDefinitions": [
    {
      "name": "web",
      "image": "repo:${TAG}",
      "environment": [
        {"name": "A", "value": "${TAG}-${OTHER}"},
        {"name": "B", "value": "${TAG} and ${TAG}"}
      ]
    }
  ]
}"#;
        let problems = run("task.json", src).unwrap_err();
        assert_eq!(lines_of(&problems, "FAMILY "), vec![Some(2)]);
        assert_eq!(lines_of(&problems, "TAG "), vec![Some(6), Some(8), Some(9)]);
        assert_eq!(lines_of(&problems, "OTHER "), vec![Some(8)]);
        assert_eq!(problems.len(), 5);
        let first = &problems[0];
        assert_eq!((first.line, first.column), (Some(2), Some(14)));
        // Sorted by line.
        let lines: Vec<_> = problems.iter().map(|p| p.line.unwrap()).collect();
        assert!(lines.windows(2).all(|w| w[0] <= w[1]), "{lines:?}");
    }

    #[test]
    fn all_problems_reported_with_lines_yaml() {
        let src = "family: ${FAMILY}\n\
                   containerDefinitions:\n\
                   \x20 - name: web\n\
                   \x20   image: repo:${TAG}\n\
                   \x20   command: [\"sh\", \"-c\", \"echo $HOME $${TAG}\"]\n\
                   \x20   environment:\n\
                   \x20     - name: T\n\
                   \x20       value: \"${GITHUB_TOKEN}\"\n\
                   \x20     - name: U\n\
                   \x20       value: ${1BAD}\n";
        let problems = run("task.yaml", src).unwrap_err();
        assert_eq!(lines_of(&problems, "FAMILY "), vec![Some(1)]);
        // Line 5 holds `$${TAG}`, a literal, so it is not reported.
        assert_eq!(lines_of(&problems, "TAG is not set"), vec![Some(4)]);
        assert_eq!(lines_of(&problems, "GITHUB_TOKEN"), vec![Some(8)]);
        assert_eq!(lines_of(&problems, "\"1BAD\""), vec![Some(10)]);
        assert_eq!(problems.len(), 4);
    }

    #[test]
    fn unknown_line_when_placeholder_not_in_source() {
        let doc = json!({"family": "${NOPE}"});
        let problems = substitute(&doc, "", &vars).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!((problems[0].line, problems[0].column), (None, None));
    }

    #[test]
    fn hostile_value_stays_one_string() {
        let src = r#"{"family": "f", "containerDefinitions": [{"name": "web", "environment": [{"name": "X", "value": "${EVIL}"}]}]}"#;
        let out = run("t.json", src).unwrap();
        let text = serde_json::to_string(&out.doc).unwrap();
        let again: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(again, out.doc);
        let container = again["containerDefinitions"][0].as_object().unwrap();
        assert_eq!(container.len(), 2, "no key was added: {container:?}");
        assert!(container.get("privileged").is_none());
        let env = &again["containerDefinitions"][0]["environment"][0];
        assert_eq!(env.as_object().unwrap().len(), 2);
        assert_eq!(env["value"], json!(vars("EVIL").unwrap()));
        // Same for YAML, where `key:` in a value could otherwise add keys.
        let yaml = "family: f\nnote: ${EVIL}\n";
        let out = run("t.yml", yaml).unwrap();
        assert_eq!(out.doc.as_object().unwrap().len(), 2);
        assert_eq!(out.doc["note"], json!(vars("EVIL").unwrap()));
    }

    #[test]
    fn object_keys_are_not_substituted() {
        let out = run("t.json", r#"{"${DB_HOST}": "${DB_HOST}"}"#).unwrap();
        assert_eq!(out.doc, json!({"${DB_HOST}": "db.internal"}));
    }

    #[test]
    fn used_records_name_value_and_pointer() {
        let src = r#"{"family": "f", "containerDefinitions": [{"name": "web", "environment": [{"name": "A", "value": "1"}, {"name": "a/b~", "value": "${MISSING:-dflt}${DB_HOST}"}], "dockerLabels": {"x/y": "${DB_HOST}"}}]}"#;
        let out = run("t.json", src).unwrap();
        assert_eq!(
            out.used,
            vec![
                Used {
                    name: "DB_HOST".into(),
                    value: "db.internal".into(),
                    pointer: "/containerDefinitions/0/environment/1/value".into(),
                },
                Used {
                    name: "DB_HOST".into(),
                    value: "db.internal".into(),
                    pointer: "/containerDefinitions/0/dockerLabels/x~1y".into(),
                },
            ]
        );
    }

    #[test]
    fn typed_fields_are_coerced() {
        let src = r#"{
  "family": "f",
  "cpu": "${CPU}",
  "memory": "${MEM:-1 GB}",
  "ephemeralStorage": {"sizeInGiB": "${DISK}"},
  "containerDefinitions": [{
    "name": "web",
    "cpu": "${CPU}",
    "essential": "${ESSENTIAL}",
    "privileged": "${MISSING:-false}",
    "portMappings": [{"containerPort": "${PORT}", "hostPort": "port ${PORT}"}],
    "healthCheck": {"command": ["CMD-SHELL", "curl localhost:$PORT || exit 1"], "retries": "${R:-3}"},
    "dockerLabels": {"timeout": "${PORT}"}
  }]
}"#;
        let out = run("t.json", src).unwrap();
        let d = &out.doc;
        assert_eq!(d["cpu"], json!("256"));
        assert_eq!(d["memory"], json!("1 GB"));
        assert_eq!(d["ephemeralStorage"]["sizeInGiB"], json!(30));
        let c = &d["containerDefinitions"][0];
        assert_eq!(c["cpu"], json!(256));
        assert_eq!(c["essential"], json!(true));
        assert_eq!(c["privileged"], json!(false));
        assert_eq!(c["portMappings"][0]["containerPort"], json!(8080));
        assert_eq!(c["portMappings"][0]["hostPort"], json!("port 8080"));
        assert_eq!(c["healthCheck"]["retries"], json!(3));
        assert_eq!(
            c["healthCheck"]["command"][1],
            json!("curl localhost:$PORT || exit 1")
        );
        assert_eq!(c["dockerLabels"]["timeout"], json!("8080"));
    }

    #[test]
    fn coercion_failure_names_field_and_variable_not_value() {
        let src = "family: f\n\
                   containerDefinitions:\n\
                   \x20 - name: web\n\
                   \x20   essential: ${DB_HOST}\n\
                   \x20   portMappings:\n\
                   \x20     - containerPort: ${WORD}\n";
        let problems = run("t.yaml", src).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        let port = &problems[1];
        assert_eq!(port.line, Some(6));
        assert!(port.message.contains("containerPort"), "{}", port.message);
        assert!(port.message.contains("WORD"), "{}", port.message);
        assert!(port.message.contains("whole number"), "{}", port.message);
        assert!(!port.message.contains("abc"), "{}", port.message);
        let ess = &problems[0];
        assert_eq!(ess.line, Some(4));
        assert!(ess.message.contains("essential"), "{}", ess.message);
        assert!(!ess.message.contains("db.internal"), "{}", ess.message);
    }

    #[test]
    fn bom_is_stripped() {
        let json = "\u{feff}{\"family\": \"${DB_HOST}\"}";
        let doc = parse_document(Path::new("t.json"), json).unwrap();
        let out = substitute(&doc, json, &vars).unwrap();
        assert_eq!(out.doc, json!({"family": "db.internal"}));
    }

    #[test]
    fn secret_looking_variable_in_environment_warns_without_value() {
        let src = r#"{"family": "f", "containerDefinitions": [{"name": "web", "image": "app:${IMAGE_TAG}", "environment": [
  {"name": "SECRET_KEY", "value": "${DJANGO_SECRET_KEY}"},
  {"name": "TAG", "value": "${IMAGE_TAG}"}
], "secrets": [{"name": "X", "valueFrom": "${DJANGO_SECRET_KEY}"}]}]}"#;
        let out = run("t.json", src).unwrap();
        assert_eq!(out.warnings.len(), 1, "{:?}", out.warnings);
        let w = &out.warnings[0];
        assert!(w.contains("DJANGO_SECRET_KEY"), "{w}");
        assert!(w.contains("container web"), "{w}");
        assert!(
            w.contains("SSM Parameter Store") && w.contains("Secrets Manager"),
            "{w}"
        );
        assert!(!w.contains("s3cr3t-value-xyz"), "{w}");
        assert!(!out.warnings.iter().any(|w| w.contains("IMAGE_TAG")));
    }
}
