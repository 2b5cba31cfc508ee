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

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};
use std::path::Path;

/// A problem found in one file; `line`/`column` are 1-based, None when unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

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
// Parsing
// ---------------------------------------------------------------------------

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Yaml,
    Guess,
}

fn format_of(path: &Path) -> Format {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase())
        .as_deref()
    {
        Some("json") => Format::Json,
        Some("yml") | Some("yaml") => Format::Yaml,
        _ => Format::Guess,
    }
}

fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

/// Both parsers append " at line N column M" to their messages; the position
/// is reported in `Problem` fields instead, so the text would only repeat it.
fn strip_position(msg: &str) -> &str {
    match msg.find(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    }
}

fn nonzero(n: usize) -> Option<usize> {
    (n > 0).then_some(n)
}

fn parse_json(text: &str) -> Result<Value, Problem> {
    serde_json::from_str::<Strict>(text)
        .map(|s| s.0)
        .map_err(|e| Problem {
            line: nonzero(e.line()),
            column: nonzero(e.column()),
            message: format!(
                "invalid JSON: {}: fix the syntax at this position",
                strip_position(&e.to_string())
            ),
        })
}

/// A JSON value whose objects never repeat a key: serde_json keeps the last one silently, so
/// `"family"` twice would register something other than what a reviewer read.
struct Strict(Value);

impl<'de> Deserialize<'de> for Strict {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrictVisitor).map(Strict)
    }
}

struct StrictVisitor;

impl<'de> Visitor<'de> for StrictVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("number is not finite"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(v.into())
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut out = Vec::new();
        while let Some(Strict(v)) = seq.next_element()? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                return Err(de::Error::custom(format!(
                    "duplicate key `{key}`: keep one of them"
                )));
            }
            let Strict(v) = map.next_value()?;
            out.insert(key, v);
        }
        Ok(Value::Object(out))
    }
}

fn parse_yaml(text: &str) -> Result<Value, Problem> {
    // serde_yaml_ng bounds alias expansion (at most 100 alias jumps per
    // parsed event, "repetition limit exceeded") and nesting (128 levels), so
    // an alias bomb fails fast instead of exhausting memory.
    let mut yaml = serde_yaml_ng::from_str::<serde_yaml_ng::Value>(text).map_err(|e| {
        let loc = e.location();
        Problem {
            line: loc.as_ref().and_then(|l| nonzero(l.line())),
            column: loc.as_ref().and_then(|l| nonzero(l.column())),
            message: format!(
                "invalid YAML: {}: fix the syntax at this position",
                strip_position(&e.to_string())
            ),
        }
    })?;
    yaml.apply_merge().map_err(|e| Problem {
        line: None,
        column: None,
        message: format!("invalid YAML merge key (<<): {e}"),
    })?;
    yaml_to_json(yaml, "")
}

fn yaml_problem(message: String) -> Problem {
    Problem {
        line: None,
        column: None,
        message,
    }
}

fn yaml_to_json(v: serde_yaml_ng::Value, pointer: &str) -> Result<Value, Problem> {
    use serde_yaml_ng::Value as Y;
    let at = if pointer.is_empty() { "/" } else { pointer };
    Ok(match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                Value::from(i)
            } else if let Some(u) = n.as_u64() {
                Value::from(u)
            } else {
                let f = n.as_f64().unwrap_or(f64::NAN);
                Value::Number(Number::from_f64(f).ok_or_else(|| {
                    yaml_problem(format!(
                        "number {n} at {at} cannot be represented in JSON: use a finite number"
                    ))
                })?)
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| yaml_to_json(item, &format!("{pointer}/{i}")))
                .collect::<Result<_, _>>()?,
        ),
        Y::Mapping(map) => {
            let mut out = Map::new();
            for (k, item) in map {
                let key = match k {
                    Y::String(s) => s,
                    other => {
                        let shown = serde_yaml_ng::to_string(&other)
                            .map(|s| s.trim().to_string())
                            .unwrap_or_else(|_| "?".to_string());
                        return Err(yaml_problem(format!(
                            "mapping key {shown} at {at} is not a string: quote it, e.g. \"{shown}\""
                        )));
                    }
                };
                let child = format!("{pointer}/{}", escape_pointer(&key));
                out.insert(key, yaml_to_json(item, &child)?);
            }
            Value::Object(out)
        }
        Y::Tagged(t) => {
            return Err(yaml_problem(format!(
                "yaml tag {} at {at} is not supported in a task definition: remove the tag",
                t.tag
            )));
        }
    })
}

fn require_object(v: Value, what: &str) -> Result<Value, Problem> {
    if v.is_object() {
        Ok(v)
    } else {
        Err(Problem {
            line: Some(1),
            column: None,
            message: format!(
                "the {what} top level must be a mapping of task-definition fields (family, containerDefinitions, ...)"
            ),
        })
    }
}

/// Parses a task-definition document. `path` is only used to choose the format by extension.
pub fn parse_document(path: &Path, text: &str) -> Result<Value, Problem> {
    let text = strip_bom(text);
    match format_of(path) {
        Format::Json => require_object(parse_json(text)?, "JSON"),
        Format::Yaml => require_object(parse_yaml(text)?, "YAML"),
        // A document opening with `{` was meant as JSON; YAML's flow syntax
        // would otherwise accept broken JSON such as `{"a": }` as `a: null`.
        Format::Guess if text.trim_start().starts_with(['{', '[']) => {
            require_object(parse_json(text)?, "JSON")
        }
        Format::Guess => match parse_json(text) {
            Ok(v) => require_object(v, "JSON"),
            Err(_) => require_object(parse_yaml(text)?, "YAML"),
        },
    }
}

// ---------------------------------------------------------------------------
// Scanning one string
// ---------------------------------------------------------------------------

enum Piece {
    Lit(String),
    Var {
        name: String,
        default: Option<String>,
    },
}

enum ScanError {
    Invalid { name: String, raw: String },
    Unclosed { tail: String },
    UnclosedDefault { name: String, tail: String },
}

fn scan(s: &str) -> (Vec<Piece>, Vec<ScanError>) {
    let mut pieces = Vec::new();
    let mut errors = Vec::new();
    let mut lit = String::new();
    let mut rest = s;
    while let Some(i) = rest.find('$') {
        lit.push_str(&rest[..i]);
        let after = &rest[i + 1..];
        if let Some(r) = after.strip_prefix('$') {
            lit.push('$');
            rest = r;
        } else if let Some(body) = after.strip_prefix('{') {
            match body.find('}') {
                None => {
                    let tail = rest[i..].to_string();
                    match body.find(":-") {
                        Some(p) if is_name(&body[..p]) => errors.push(ScanError::UnclosedDefault {
                            name: body[..p].to_string(),
                            tail,
                        }),
                        _ => errors.push(ScanError::Unclosed { tail }),
                    }
                    rest = "";
                    break;
                }
                Some(j) => {
                    let content = &body[..j];
                    let (name, default) = match content.find(":-") {
                        Some(p) => (&content[..p], Some(content[p + 2..].to_string())),
                        None => (content, None),
                    };
                    if is_name(name) {
                        if !lit.is_empty() {
                            pieces.push(Piece::Lit(std::mem::take(&mut lit)));
                        }
                        pieces.push(Piece::Var {
                            name: name.to_string(),
                            default,
                        });
                    } else {
                        errors.push(ScanError::Invalid {
                            name: name.to_string(),
                            raw: content.to_string(),
                        });
                    }
                    rest = &body[j + 1..];
                }
            }
        } else {
            // A bare `$NAME`, `$(cmd)` or trailing `$` belongs to the
            // container's shell at run time.
            lit.push('$');
            rest = after;
        }
    }
    lit.push_str(rest);
    if !lit.is_empty() {
        pieces.push(Piece::Lit(lit));
    }
    (pieces, errors)
}

// ---------------------------------------------------------------------------
// Locating problems in the source text
// ---------------------------------------------------------------------------

/// How to find the source lines a problem came from, since the parsed
/// `Value` carries no positions.
struct Needle {
    text: String,
    /// The match must be followed by one of these (empty: anything).
    followed_by: &'static [&'static str],
    /// The match must not be followed by this.
    not_followed_by: Option<char>,
    /// Prefer lines that also contain this (the field name of a coercion).
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

    /// Column (1-based, in chars) of the first match on `line`.
    fn find_in(&self, line: &str) -> Option<usize> {
        let mut from = 0;
        while let Some(off) = line[from..].find(&self.text) {
            let idx = from + off;
            from = idx + 1;
            let after = &line[idx + self.text.len()..];
            if !self.followed_by.is_empty()
                && !self.followed_by.iter().any(|f| after.starts_with(f))
            {
                continue;
            }
            if let Some(c) = self.not_followed_by {
                if after.starts_with(c) {
                    continue;
                }
            }
            // An odd run of `$` before the match means its `$` is the second
            // half of a `$$` escape, i.e. literal text.
            let dollars = line[..idx].chars().rev().take_while(|&c| c == '$').count();
            if dollars % 2 == 1 {
                continue;
            }
            return Some(line[..idx].chars().count() + 1);
        }
        None
    }

    fn locate(&self, source: &str) -> Vec<(usize, usize)> {
        let lines: Vec<&str> = strip_bom(source).lines().collect();
        let hits = |want: Option<&str>| -> Vec<(usize, usize)> {
            lines
                .iter()
                .enumerate()
                .filter(|(_, l)| want.is_none_or(|w| l.contains(w)))
                .filter_map(|(n, l)| self.find_in(l).map(|c| (n + 1, c)))
                .collect()
        };
        if let Some(w) = &self.prefer_line_with {
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
    /// Problems keyed by message so one cause is reported once per line.
    problems: Vec<(String, Needle)>,
    /// (variable, container index) pairs for secret-looking names in `environment`.
    secret_env: Vec<(String, usize)>,
}

impl Walker<'_> {
    fn problem(&mut self, message: String, needle: Needle) {
        if !self.problems.iter().any(|(m, _)| *m == message) {
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
        for piece in &pieces {
            match piece {
                Piece::Lit(l) => out.push_str(l),
                Piece::Var { name, default } => match self.resolve(name, default.as_deref()) {
                    Some(value) => {
                        out.push_str(&value);
                        self.note_use(name, value, &pointer, path);
                    }
                    None => failed = true,
                },
            }
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

    fn resolve(&mut self, name: &str, default: Option<&str>) -> Option<String> {
        if is_forbidden(name) {
            self.problem(
                format!(
                    "variable {name} carries runner or AWS credentials and is never substituted: anyone who can edit a task-definition file could otherwise copy the token into ECS; pass the value through a `secrets` entry backed by SSM Parameter Store or Secrets Manager instead"
                ),
                Needle {
                    followed_by: &["}", ":-"],
                    ..Needle::exact(format!("${{{name}"))
                },
            );
            return None;
        }
        match ((self.lookup)(name), default) {
            (Some(v), Some(d)) if v.is_empty() => Some(d.to_string()),
            (Some(v), _) => Some(v),
            (None, Some(d)) => Some(d.to_string()),
            (None, None) => {
                self.problem(
                    format!(
                        "variable {name} is not set: export it in the workflow step's env, or give a default with ${{{name}:-value}}"
                    ),
                    Needle::exact(format!("${{{name}}}")),
                );
                None
            }
        }
    }

    fn note_use(&mut self, name: &str, value: String, pointer: &str, path: &[Seg]) {
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
        self.used.push(Used {
            name: name.to_string(),
            value,
            pointer: pointer.to_string(),
        });
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
        secret_env: Vec::new(),
    };
    let out = walker.walk(doc, &mut Vec::new());

    if !walker.problems.is_empty() {
        let mut problems = Vec::new();
        for (message, needle) in walker.problems {
            let hits = needle.locate(source);
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

#[cfg(test)]
mod strict_json_tests {
    use super::*;

    #[test]
    fn duplicate_json_keys_are_refused_with_their_position() {
        let p = parse_document(
            Path::new("t.json"),
            "{\n  \"family\": \"a\",\n  \"family\": \"b\"\n}",
        )
        .unwrap_err();
        assert!(
            p.message.contains("duplicate key `family`"),
            "{}",
            p.message
        );
        assert_eq!(p.line, Some(3));
        let ok = parse_document(
            Path::new("t.json"),
            r#"{"a": [1, 2.5, true, null, {"b": "c"}]}"#,
        )
        .unwrap();
        assert_eq!(ok["a"][1], 2.5);
        assert_eq!(ok["a"][4]["b"], "c");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::{Duration, Instant};

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
        let src = r#"{"family": "f", "containerDefinitions": [{"name": "web", "environment": [{"name": "A", "value": "1"}, {"name": "a/b~", "value": "${MISSING:-dflt}"}], "dockerLabels": {"x/y": "${DB_HOST}"}}]}"#;
        let out = run("t.json", src).unwrap();
        assert_eq!(
            out.used,
            vec![
                Used {
                    name: "MISSING".into(),
                    value: "dflt".into(),
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
    fn json_parse_error_has_line_and_column() {
        let err =
            parse_document(Path::new("t.json"), "{\n  \"family\": \"f\",\n  oops\n}").unwrap_err();
        assert_eq!((err.line, err.column), (Some(3), Some(3)));
        assert!(err.message.starts_with("invalid JSON"), "{}", err.message);
        assert!(!err.message.contains(" at line "), "{}", err.message);
    }

    #[test]
    fn yaml_parse_error_has_line_and_column() {
        let err =
            parse_document(Path::new("t.yaml"), "family: f\ncpu: [1, 2\nmemory: x\n").unwrap_err();
        assert!(err.line.is_some() && err.column.is_some(), "{err:?}");
        assert!(err.line.unwrap() >= 2, "{err:?}");
        assert!(err.message.starts_with("invalid YAML"), "{}", err.message);
        let err = parse_document(Path::new("t.yml"), "family: f\n  bad: indent\n").unwrap_err();
        assert_eq!(err.line, Some(2), "{err:?}");
    }

    #[test]
    fn format_chosen_by_extension_or_guessed() {
        let yaml = "family: f\n";
        assert!(parse_document(Path::new("t.json"), yaml).is_err());
        assert_eq!(
            parse_document(Path::new("t.YAML"), yaml).unwrap(),
            json!({"family": "f"})
        );
        assert_eq!(
            parse_document(Path::new("task"), yaml).unwrap(),
            json!({"family": "f"})
        );
        let json = r#"{"family": "f"}"#;
        assert_eq!(
            parse_document(Path::new("task.txt"), json).unwrap(),
            json!({"family": "f"})
        );
        // A broken JSON-looking file without extension reports the JSON error.
        let err = parse_document(Path::new("task"), "{\"family\": }").unwrap_err();
        assert!(err.message.starts_with("invalid JSON"), "{}", err.message);
    }

    #[test]
    fn bom_is_stripped() {
        let json = "\u{feff}{\"family\": \"${DB_HOST}\"}";
        let doc = parse_document(Path::new("t.json"), json).unwrap();
        let out = substitute(&doc, json, &vars).unwrap();
        assert_eq!(out.doc, json!({"family": "db.internal"}));
        let yaml = "\u{feff}family: f\n";
        assert_eq!(
            parse_document(Path::new("t.yaml"), yaml).unwrap(),
            json!({"family": "f"})
        );
    }

    #[test]
    fn yaml_shape_rules() {
        let cases: &[(&str, Result<Value, &str>)] = &[
            ("- a\n- b\n", Err("top level must be a mapping")),
            ("just text\n", Err("top level must be a mapping")),
            ("family: f\n80: x\n", Err("mapping key 80")),
            ("family: !Ref x\n", Err("yaml tag")),
            ("family: .inf\n", Err("cannot be represented")),
            (
                "base: &b {cpu: 1}\nc:\n  <<: *b\n  memory: 2\n",
                Ok(json!({"base": {"cpu": 1}, "c": {"cpu": 1, "memory": 2}})),
            ),
            (
                "n: 1.5\nb: true\nz: ~\n",
                Ok(json!({"n": 1.5, "b": true, "z": null})),
            ),
        ];
        for (src, want) in cases {
            match (parse_document(Path::new("t.yaml"), src), want) {
                (Ok(v), Ok(w)) => assert_eq!(&v, w, "{src:?}"),
                (Err(p), Err(frag)) => assert!(p.message.contains(frag), "{src:?}: {p:?}"),
                (got, want) => panic!("{src:?}: got {got:?}, want {want:?}"),
            }
        }
        assert!(parse_document(Path::new("t.json"), "[1]").is_err());
    }

    #[test]
    fn yaml_billion_laughs_is_rejected_quickly() {
        let mut src = String::from(
            "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
        );
        let names = ["b", "c", "d", "e", "f", "g", "h", "i"];
        let mut prev = "a";
        for n in names {
            let refs = vec![format!("*{prev}"); 9].join(",");
            src.push_str(&format!("{n}: &{n} [{refs}]\n"));
            prev = n;
        }
        let start = Instant::now();
        let err = parse_document(Path::new("bomb.yaml"), &src).unwrap_err();
        assert!(
            start.elapsed() < Duration::from_millis(500),
            "{:?}",
            start.elapsed()
        );
        assert!(err.message.contains("repetition limit"), "{}", err.message);
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
