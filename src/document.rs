//! The one reader and parser for the files a user names: task definitions, CloudFormation
//! templates, stack-parameter files and compose files.
//!
//! Every file goes through [`read`] (a regular file, within its size limit, UTF-8, BOM
//! dropped) and [`parse`] (JSON or YAML into one `serde_json::Value`), under one set of rules:
//! duplicate keys are refused in JSON and YAML alike, a problem names its line and column,
//! and the work is linear in the input with bounded memory. What differs between kinds of
//! file is a policy, not a second parser: YAML tags are refused in task definitions and
//! expanded in templates (`!Ref x` → `{"Ref": "x"}`, `!Sub` → `Fn::Sub`, an unknown `!Bogus` is
//! an error), merge keys (`<<`) apply in task definitions only, and each kind has its limits.
//!
//! The limits, each an input error that states it:
//! - file size: 10 MiB for task definitions and parameter files (ECS itself takes at most
//!   64 KiB for a registered task definition), 51,200 bytes for templates (CloudFormation's
//!   limit for a template sent inline as `TemplateBody`; ecs-deploy does not upload to S3);
//! - nesting: 100 levels (a task definition nests about 6 deep), checked before the YAML
//!   parser sees the text, whose flow collections (`[[[`) cost quadratic time to reject;
//! - expanded size: YAML aliases (`*name`) may not grow the document past 10 MiB (task
//!   definitions) or 1 MB (templates, CloudFormation's limit for a template from S3), so a
//!   small file cannot expand until memory runs out.

use std::cell::{Cell, RefCell};
use std::io::Read;
use std::path::Path;

use serde::de::{self, DeserializeSeed, Deserializer, EnumAccess, MapAccess, SeqAccess};
use serde::de::{VariantAccess, Visitor};
use serde_json::{Map, Number, Value};

/// Largest task-definition or parameters file read.
pub const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;
/// Largest template: CloudFormation's limit for `TemplateBody` (larger ones go through S3).
pub const MAX_TEMPLATE_BYTES: u64 = 51_200;
/// Deepest nesting of arrays and mappings in any document.
pub const MAX_DEPTH: usize = 100;
/// Largest size a task definition may reach once its YAML aliases are expanded.
pub const MAX_EXPANDED_BYTES: usize = 10 * 1024 * 1024;
/// Largest size a template may reach once its YAML aliases are expanded (CloudFormation
/// takes at most 1 MB of template, through S3).
pub const MAX_TEMPLATE_EXPANDED_BYTES: usize = 1_000_000;

/// What a file is, which decides its limits and its YAML policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    TaskDefinition,
    Template,
    Parameters,
    /// A CodeDeploy AppSpec (YAML or JSON, like a task definition).
    AppSpec,
    /// A docker-compose file: a task definition's policy (merge keys, no tags), its limits.
    Compose,
}

impl Kind {
    fn what(self) -> &'static str {
        match self {
            Kind::TaskDefinition => "task-definition",
            Kind::Template => "template",
            Kind::Parameters => "parameters",
            Kind::AppSpec => "AppSpec",
            Kind::Compose => "compose",
        }
    }

    fn max_file_bytes(self) -> u64 {
        match self {
            Kind::Template => MAX_TEMPLATE_BYTES,
            Kind::TaskDefinition | Kind::Parameters | Kind::AppSpec | Kind::Compose => {
                MAX_FILE_BYTES
            }
        }
    }

    fn max_expanded(self) -> usize {
        match self {
            Kind::Template => MAX_TEMPLATE_EXPANDED_BYTES,
            Kind::TaskDefinition | Kind::Parameters | Kind::AppSpec | Kind::Compose => {
                MAX_EXPANDED_BYTES
            }
        }
    }
}

/// A problem in one file; `line`/`column` are 1-based, None when unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub line: Option<usize>,
    pub column: Option<usize>,
    pub message: String,
}

impl Problem {
    pub fn plain(message: String) -> Self {
        Problem {
            line: None,
            column: None,
            message,
        }
    }
}

/// Reads a file the user named, refusing anything but a regular file (a named pipe would
/// block the run), files over the kind's size limit, empty files and invalid UTF-8. The
/// metadata is checked before the file is opened; a leading BOM is dropped.
pub fn read(path: &Path, kind: Kind) -> Result<String, Problem> {
    let what = kind.what();
    let limit = kind.max_file_bytes();
    let meta = std::fs::metadata(path).map_err(|e| {
        Problem::plain(match e.kind() {
            std::io::ErrorKind::NotFound => {
                "file not found: check the path (it is relative to the repository root)".into()
            }
            _ => format!("cannot read the file: {e}"),
        })
    })?;
    if meta.is_dir() {
        return Err(Problem::plain(format!("is a directory, not a {what} file")));
    }
    if !meta.is_file() {
        return Err(Problem::plain(format!(
            "is not a regular file (a named pipe, socket or device): give the path of a {what} file"
        )));
    }
    if meta.len() > limit {
        return Err(Problem::plain(too_big(kind, meta.len())));
    }
    let file = std::fs::File::open(path)
        .map_err(|e| Problem::plain(format!("cannot read the file: {e}")))?;
    // The file may grow between the check and the read: never read past the limit.
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| Problem::plain(format!("cannot read the file: {e}")))?;
    if bytes.len() as u64 > limit {
        return Err(Problem::plain(too_big(kind, bytes.len() as u64)));
    }
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Problem::plain(format!(
            "file is empty: it must hold a {what} (JSON or YAML)"
        )));
    }
    let text = String::from_utf8(bytes).map_err(|e| {
        Problem::plain(format!(
            "file is not valid UTF-8 (first bad byte at offset {}): save it as UTF-8",
            e.utf8_error().valid_up_to()
        ))
    })?;
    Ok(match text.strip_prefix('\u{feff}') {
        Some(rest) => rest.to_string(),
        None => text,
    })
}

fn too_big(kind: Kind, len: u64) -> String {
    match kind {
        Kind::Template => format!(
            "the template is {len} bytes, over CloudFormation's {MAX_TEMPLATE_BYTES}-byte limit for a template sent inline (TemplateBody); larger templates must be uploaded to S3, which ecs-deploy does not do: shrink it (remove comments, move parts into nested stacks) or deploy it in an earlier step"
        ),
        _ => format!(
            "file is {len} bytes, over the {}-byte limit for a {} file",
            kind.max_file_bytes(),
            kind.what()
        ),
    }
}

/// Drops a leading byte-order mark.
pub fn strip_bom(text: &str) -> &str {
    text.strip_prefix('\u{feff}').unwrap_or(text)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Yaml,
    Guess,
}

fn format_of(path: &Path, kind: Kind, text: &str) -> Format {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(|e| e.to_ascii_lowercase());
    match kind {
        Kind::Parameters => Format::Json,
        // CloudFormation's own rule: JSON when it looks like JSON.
        Kind::Template if ext.as_deref() == Some("json") || text.trim_start().starts_with('{') => {
            Format::Json
        }
        Kind::Template => Format::Yaml,
        Kind::TaskDefinition | Kind::AppSpec | Kind::Compose => match ext.as_deref() {
            Some("json") => Format::Json,
            Some("yml") | Some("yaml") => Format::Yaml,
            _ => Format::Guess,
        },
    }
}

/// Parses a document of this kind. `path` chooses the format by extension (and names
/// nothing: the caller prefixes messages with the file's name).
pub fn parse(path: &Path, text: &str, kind: Kind) -> Result<Value, Problem> {
    let text = strip_bom(text);
    let (doc, format) = match format_of(path, kind, text) {
        Format::Json => (parse_json(text, kind)?, "JSON"),
        Format::Yaml => (parse_yaml(text, kind)?, "YAML"),
        // A document opening with `{` was meant as JSON; YAML's flow syntax would otherwise
        // accept broken JSON such as `{"a": }` as `a: null`.
        Format::Guess if text.trim_start().starts_with(['{', '[']) => {
            (parse_json(text, kind)?, "JSON")
        }
        Format::Guess => match parse_json(text, kind) {
            Ok(v) => (v, "JSON"),
            Err(_) => (parse_yaml(text, kind)?, "YAML"),
        },
    };
    if kind == Kind::TaskDefinition && !doc.is_object() {
        return Err(Problem {
            line: Some(1),
            column: None,
            message: format!(
                "the {format} top level must be a mapping of task-definition fields (family, containerDefinitions, ...)"
            ),
        });
    }
    if kind == Kind::Compose && !doc.is_object() {
        return Err(Problem {
            line: Some(1),
            column: None,
            message: format!(
                "the {format} top level must be a mapping with `services:` (a compose file)"
            ),
        });
    }
    Ok(doc)
}

/// Both parsers append " at line N column M" to their messages; the position is reported
/// in `Problem`'s fields instead, so the text would only repeat it.
fn strip_position(msg: &str) -> &str {
    match msg.find(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    }
}

fn nonzero(n: usize) -> Option<usize> {
    (n > 0).then_some(n)
}

fn depth_message() -> String {
    format!(
        "the document nests deeper than {MAX_DEPTH} levels, the limit (recursion limit exceeded): flatten it"
    )
}

fn parse_json(text: &str, kind: Kind) -> Result<Value, Problem> {
    let st = State::new(kind, false);
    let mut de = serde_json::Deserializer::from_str(text);
    let result = Node { st: &st, depth: 0 }
        .deserialize(&mut de)
        .and_then(|v| de.end().map(|()| v));
    result.map_err(|e| {
        let (message, syntax) = st.message(&e.to_string());
        Problem {
            line: nonzero(e.line()),
            column: nonzero(e.column()),
            message: opened("JSON", message, syntax),
        }
    })
}

fn parse_yaml(text: &str, kind: Kind) -> Result<Value, Problem> {
    if let Some((line, column)) = flow_too_deep(text) {
        return Err(Problem {
            line: Some(line),
            column: Some(column),
            message: format!("invalid YAML: {}", depth_message()),
        });
    }
    let st = State::new(kind, true);
    let de = serde_yaml_ng::Deserializer::from_str(text);
    Node { st: &st, depth: 0 }.deserialize(de).map_err(|e| {
        let loc = e.location();
        let (message, syntax) = st.message(&e.to_string());
        Problem {
            line: loc.as_ref().and_then(|l| nonzero(l.line())),
            column: loc.as_ref().and_then(|l| nonzero(l.column())),
            message: opened("YAML", message, syntax),
        }
    })
}

/// The position of the first flow collection (`[` or `{`) nested deeper than `MAX_DEPTH`,
/// found in one pass. libyaml re-examines every open flow level at each token, so deep flow
/// nesting costs it quadratic time before any depth limit could stop it. This scan skips
/// quoted scalars and comments, and in block context counts only brackets that start a token.
fn flow_too_deep(text: &str) -> Option<(usize, usize)> {
    #[derive(PartialEq)]
    enum In {
        Plain,
        Single,
        Double,
        Comment,
    }
    let mut state = In::Plain;
    let mut depth = 0usize;
    let (mut line, mut col) = (1usize, 0usize);
    let mut prev = '\n';
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        col += 1;
        match state {
            In::Comment => {
                if c == '\n' {
                    state = In::Plain;
                }
            }
            In::Double => {
                if c == '\\' {
                    if chars.next() == Some('\n') {
                        (line, col) = (line + 1, 0);
                    } else {
                        col += 1;
                    }
                } else if c == '"' {
                    state = In::Plain;
                }
            }
            In::Single => {
                if c == '\'' {
                    if chars.peek() == Some(&'\'') {
                        chars.next();
                        col += 1;
                    } else {
                        state = In::Plain;
                    }
                }
            }
            In::Plain => {
                // In block context a flow collection or a quoted scalar starts a token (after
                // a space or at a line start); inside a flow collection, plain scalars cannot
                // hold brackets, so every bracket counts.
                let token_start = prev.is_whitespace() || (depth > 0 && "[{,:".contains(prev));
                match c {
                    '#' if prev.is_whitespace() => state = In::Comment,
                    '"' | '\'' if token_start => {
                        state = if c == '"' { In::Double } else { In::Single }
                    }
                    '[' | '{' if token_start || depth > 0 => {
                        depth += 1;
                        if depth > MAX_DEPTH {
                            return Some((line, col));
                        }
                    }
                    ']' | '}' if depth > 0 => depth -= 1,
                    _ => {}
                }
            }
        }
        if c == '\n' {
            (line, col) = (line + 1, 0);
        }
        prev = c;
    }
    None
}

/// Who found a problem, which decides how its message opens.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Syntax {
    /// The parser: "invalid YAML: <its message>: fix the syntax at this position".
    Parser,
    /// Our structural checks: "invalid YAML: <message>".
    Ours,
    /// A value this kind of file refuses: the message alone.
    Content,
}

fn opened(format: &str, message: String, syntax: Syntax) -> String {
    match syntax {
        Syntax::Parser => format!("invalid {format}: {message}: fix the syntax at this position"),
        Syntax::Ours => format!("invalid {format}: {message}"),
        Syntax::Content => message,
    }
}

/// What one parse shares across its nodes: the policy, the expansion budget and the first
/// error of our own (serde's error type carries only text and a position).
struct State {
    kind: Kind,
    yaml: bool,
    budget: Cell<usize>,
    error: RefCell<Option<(String, Syntax)>>,
    path: RefCell<Vec<String>>,
}

impl State {
    fn new(kind: Kind, yaml: bool) -> Self {
        State {
            kind,
            yaml,
            budget: Cell::new(kind.max_expanded()),
            error: RefCell::new(None),
            path: RefCell::new(Vec::new()),
        }
    }

    /// The message for a failed parse, and whether it is about the syntax (and so says
    /// "invalid JSON/YAML"): ours when we raised it, else the parser's.
    fn message(&self, parser: &str) -> (String, Syntax) {
        match self.error.borrow_mut().take() {
            Some(m) => m,
            None => (strip_position(parser).to_string(), Syntax::Parser),
        }
    }

    /// An error of the document's structure (duplicate key, depth, expanded size).
    fn fail<E: de::Error>(&self, message: String) -> E {
        self.raise(message, Syntax::Ours)
    }

    /// An error of what the document holds (a tag, a key or a number this kind refuses).
    fn refuse<E: de::Error>(&self, message: String) -> E {
        self.raise(message, Syntax::Content)
    }

    fn raise<E: de::Error>(&self, message: String, syntax: Syntax) -> E {
        let mut slot = self.error.borrow_mut();
        if slot.is_none() {
            *slot = Some((message.clone(), syntax));
        }
        E::custom(message)
    }

    fn pointer(&self) -> String {
        let path = self.path.borrow();
        if path.is_empty() {
            "/".to_string()
        } else {
            path.iter().map(|s| format!("/{s}")).collect()
        }
    }

    /// Counts `n` bytes of expanded document against the budget (YAML only: JSON has no
    /// aliases, so its size is the file's).
    fn charge<E: de::Error>(&self, n: usize) -> Result<(), E> {
        if !self.yaml {
            return Ok(());
        }
        match self.budget.get().checked_sub(n) {
            Some(left) => {
                self.budget.set(left);
                Ok(())
            }
            None => Err(self.fail(format!(
                "the document grows past {} bytes once its aliases (*name) are expanded, the limit for a {} file: write the repeated parts out, or repeat them less",
                self.kind.max_expanded(),
                self.kind.what()
            ))),
        }
    }
}

fn escape_pointer(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// One value of the document, `depth` levels down.
struct Node<'s> {
    st: &'s State,
    depth: usize,
}

impl Node<'_> {
    fn child(&self) -> Node<'_> {
        Node {
            st: self.st,
            depth: self.depth + 1,
        }
    }

    fn enter<E: de::Error>(&self) -> Result<(), E> {
        if self.depth >= MAX_DEPTH {
            return Err(self.st.fail(depth_message()));
        }
        self.st.charge(2)
    }

    fn float<E: de::Error>(&self, v: f64) -> Result<Value, E> {
        self.st.charge(8)?;
        if let Some(n) = Number::from_f64(v) {
            return Ok(Value::Number(n));
        }
        if self.st.kind == Kind::Template {
            // CloudFormation reads every scalar as text anyway; keep what was written.
            let shown = if v.is_nan() {
                ".nan"
            } else if v > 0.0 {
                ".inf"
            } else {
                "-.inf"
            };
            return Ok(Value::String(shown.into()));
        }
        Err(self.st.refuse(format!(
            "number {v} at {} cannot be represented in JSON: use a finite number",
            self.st.pointer()
        )))
    }
}

impl<'de> DeserializeSeed<'de> for Node<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a JSON or YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        self.st.charge(5)?;
        Ok(Value::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        self.st.charge(8)?;
        Ok(v.into())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        self.st.charge(8)?;
        Ok(v.into())
    }

    fn visit_i128<E: de::Error>(self, v: i128) -> Result<Value, E> {
        self.float(v as f64)
    }

    fn visit_u128<E: de::Error>(self, v: u128) -> Result<Value, E> {
        self.float(v as f64)
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        self.float(v)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        self.st.charge(v.len() + 3)?;
        Ok(v.into())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        self.st.charge(v.len() + 3)?;
        Ok(v.into())
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        self.st.charge(5)?;
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        self.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        self.enter()?;
        let mut out = Vec::new();
        loop {
            self.st.path.borrow_mut().push(out.len().to_string());
            let next = seq.next_element_seed(self.child());
            self.st.path.borrow_mut().pop();
            match next? {
                Some(v) => out.push(v),
                None => break,
            }
        }
        Ok(Value::Array(out))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        self.enter()?;
        let merge_keys =
            self.st.yaml && matches!(self.st.kind, Kind::TaskDefinition | Kind::Compose);
        let mut out = Map::new();
        let mut merged: Vec<Value> = Vec::new();
        let mut saw_merge = false;
        while let Some(key) = map.next_key_seed(Key {
            st: self.st,
            seen: &out,
            saw_merge: merge_keys && saw_merge,
        })? {
            self.st.charge(key.len() + 4)?;
            self.st.path.borrow_mut().push(escape_pointer(&key));
            let value = map.next_value_seed(self.child());
            self.st.path.borrow_mut().pop();
            let value = value?;
            if merge_keys && key == "<<" {
                saw_merge = true;
                merged.push(value);
            } else {
                out.insert(key, value);
            }
        }
        for m in merged {
            let sources = match m {
                Value::Array(items) => items,
                other => vec![other],
            };
            for source in sources {
                let Value::Object(source) = source else {
                    return Err(self.st.refuse(format!(
                        "the merge key (<<) at {} must name a mapping or a list of mappings",
                        self.st.pointer()
                    )));
                };
                for (k, v) in source {
                    out.entry(k).or_insert(v);
                }
            }
        }
        Ok(Value::Object(out))
    }

    fn visit_enum<A: EnumAccess<'de>>(self, data: A) -> Result<Value, A::Error> {
        let (tag, variant) = data.variant::<String>()?;
        let shown = if tag.starts_with('!') {
            tag.clone()
        } else {
            format!("!{tag}")
        };
        if self.st.kind != Kind::Template {
            return Err(self.st.refuse(format!(
                "yaml tag {shown} at {} is not supported in a {}: remove the tag",
                self.st.pointer(),
                match self.st.kind {
                    Kind::TaskDefinition => "task definition",
                    Kind::Compose => "compose file",
                    _ => "parameters file",
                }
            )));
        }
        let Some(key) = intrinsic(&tag) else {
            return Err(self.st.refuse(format!(
                "unknown CloudFormation tag {shown} at {}: the short forms are {}; fix the name, or write the function in its long form (Fn::Name: ...)",
                self.st.pointer(),
                SHORT_FORMS
                    .iter()
                    .map(|(s, _)| format!("!{s}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        self.enter()?;
        self.st.charge(key.len() + 4)?;
        let inner = variant.newtype_variant_seed(self.child())?;
        let value = match (key, inner) {
            // `!GetAtt Resource.Attribute` is the short form of a two-item list; the
            // attribute itself may contain dots (`Endpoint.Address`).
            ("Fn::GetAtt", Value::String(s)) => match s.split_once('.') {
                Some((r, a)) => Value::Array(vec![r.into(), a.into()]),
                None => Value::String(s),
            },
            (_, inner) => inner,
        };
        let mut m = Map::new();
        m.insert(key.to_string(), value);
        Ok(Value::Object(m))
    }
}

/// CloudFormation's short-form tags and the keys of their long forms (the intrinsic
/// function reference, including the `AWS::LanguageExtensions` functions).
const SHORT_FORMS: &[(&str, &str)] = &[
    ("Ref", "Ref"),
    ("Condition", "Condition"),
    ("Base64", "Fn::Base64"),
    ("Cidr", "Fn::Cidr"),
    ("FindInMap", "Fn::FindInMap"),
    ("ForEach", "Fn::ForEach"),
    ("GetAtt", "Fn::GetAtt"),
    ("GetAZs", "Fn::GetAZs"),
    ("ImportValue", "Fn::ImportValue"),
    ("Join", "Fn::Join"),
    ("Length", "Fn::Length"),
    ("Select", "Fn::Select"),
    ("Split", "Fn::Split"),
    ("Sub", "Fn::Sub"),
    ("ToJsonString", "Fn::ToJsonString"),
    ("Transform", "Fn::Transform"),
    ("And", "Fn::And"),
    ("Equals", "Fn::Equals"),
    ("If", "Fn::If"),
    ("Not", "Fn::Not"),
    ("Or", "Fn::Or"),
];

fn intrinsic(tag: &str) -> Option<&'static str> {
    SHORT_FORMS
        .iter()
        .find(|(short, _)| *short == tag)
        .map(|(_, long)| *long)
}

/// A mapping key: refused when it repeats one already in the mapping (`seen`), so the error
/// carries the repeated key's own position.
struct Key<'a> {
    st: &'a State,
    seen: &'a Map<String, Value>,
    saw_merge: bool,
}

impl Key<'_> {
    fn check<E: de::Error>(self, key: String) -> Result<String, E> {
        if self.seen.contains_key(&key) || (self.saw_merge && key == "<<") {
            return Err(self.st.fail(if self.st.yaml {
                format!("duplicate entry with key {key:?}: keep one of them")
            } else {
                format!("duplicate key `{key}`: keep one of them")
            }));
        }
        Ok(key)
    }

    fn scalar<E: de::Error>(self, shown: String) -> Result<String, E> {
        if self.st.kind == Kind::Template {
            return self.check(shown);
        }
        Err(self.st.refuse(format!(
            "mapping key {shown} at {} is not a string: quote it, e.g. \"{shown}\"",
            self.st.pointer()
        )))
    }

    fn not_plain<E: de::Error>(self) -> E {
        self.st.refuse(format!(
            "a mapping key under {} is not a plain value: use a string key",
            self.st.pointer()
        ))
    }
}

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = String;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<String, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = String;

    fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
        f.write_str("a string key")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        self.check(v.to_string())
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<String, E> {
        self.check(v)
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        self.scalar(v.to_string())
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        self.scalar(v.to_string())
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        self.scalar(v.to_string())
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        self.scalar(v.to_string())
    }

    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        if self.st.kind == Kind::Template {
            return Err(self.not_plain());
        }
        self.scalar("~".into())
    }

    fn visit_none<E: de::Error>(self) -> Result<String, E> {
        self.visit_unit()
    }

    fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<String, A::Error> {
        Err(self.not_plain())
    }

    fn visit_map<A: MapAccess<'de>>(self, _map: A) -> Result<String, A::Error> {
        Err(self.not_plain())
    }

    fn visit_enum<A: EnumAccess<'de>>(self, _data: A) -> Result<String, A::Error> {
        Err(self.not_plain())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::time::{Duration, Instant};

    fn task(path: &str, text: &str) -> Result<Value, Problem> {
        parse(Path::new(path), text, Kind::TaskDefinition)
    }

    fn template(text: &str) -> Result<Value, Problem> {
        parse(Path::new("t.yml"), text, Kind::Template)
    }

    #[test]
    fn duplicate_json_keys_are_refused_with_their_position() {
        let p = task("t.json", "{\n  \"family\": \"a\",\n  \"family\": \"b\"\n}").unwrap_err();
        assert!(
            p.message.contains("duplicate key `family`"),
            "{}",
            p.message
        );
        assert_eq!(p.line, Some(3));
        let ok = task("t.json", r#"{"a": [1, 2.5, true, null, {"b": "c"}]}"#).unwrap();
        assert_eq!(ok["a"][1], 2.5);
        assert_eq!(ok["a"][4]["b"], "c");
    }

    #[test]
    fn json_parse_error_has_line_and_column() {
        let err = task("t.json", "{\n  \"family\": \"f\",\n  oops\n}").unwrap_err();
        assert_eq!((err.line, err.column), (Some(3), Some(3)));
        assert!(err.message.starts_with("invalid JSON"), "{}", err.message);
        assert!(!err.message.contains(" at line "), "{}", err.message);
    }

    #[test]
    fn yaml_parse_error_has_line_and_column() {
        let err = task("t.yaml", "family: f\ncpu: [1, 2\nmemory: x\n").unwrap_err();
        assert!(err.line.is_some() && err.column.is_some(), "{err:?}");
        assert!(err.line.unwrap() >= 2, "{err:?}");
        assert!(err.message.starts_with("invalid YAML"), "{}", err.message);
        let err = task("t.yml", "family: f\n  bad: indent\n").unwrap_err();
        assert_eq!(err.line, Some(2), "{err:?}");
    }

    #[test]
    fn format_chosen_by_extension_or_guessed() {
        let yaml = "family: f\n";
        assert!(task("t.json", yaml).is_err());
        assert_eq!(task("t.YAML", yaml).unwrap(), json!({"family": "f"}));
        assert_eq!(task("task", yaml).unwrap(), json!({"family": "f"}));
        let json = r#"{"family": "f"}"#;
        assert_eq!(task("task.txt", json).unwrap(), json!({"family": "f"}));
        // A broken JSON-looking file without extension reports the JSON error.
        let err = task("task", "{\"family\": }").unwrap_err();
        assert!(err.message.starts_with("invalid JSON"), "{}", err.message);
    }

    #[test]
    fn bom_is_stripped_in_every_kind() {
        assert_eq!(
            task("t.json", "\u{feff}{\"family\": \"f\"}").unwrap(),
            json!({"family": "f"})
        );
        assert_eq!(
            task("t.yaml", "\u{feff}family: f\n").unwrap(),
            json!({"family": "f"})
        );
        // Before: a template with a BOM was parsed as YAML (it did not start with `{`).
        let t = parse(
            Path::new("t.template"),
            "\u{feff}{\"Resources\": {\"A\": {\"Type\": \"T\"}}}",
            Kind::Template,
        )
        .unwrap();
        assert_eq!(t["Resources"]["A"]["Type"], "T");
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.yml");
        std::fs::write(&p, "\u{feff}Resources: {}\n").unwrap();
        assert_eq!(read(&p, Kind::Template).unwrap(), "Resources: {}\n");
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
                "a: &a {x: 1}\nb: &b {x: 2, y: 2}\nc:\n  <<: [*a, *b]\n  z: 3\n",
                Ok(json!({"a": {"x": 1}, "b": {"x": 2, "y": 2}, "c": {"x": 1, "y": 2, "z": 3}})),
            ),
            (
                "n: 1.5\nb: true\nz: ~\n",
                Ok(json!({"n": 1.5, "b": true, "z": null})),
            ),
        ];
        for (src, want) in cases {
            match (task("t.yaml", src), want) {
                (Ok(v), Ok(w)) => assert_eq!(&v, w, "{src:?}"),
                (Err(p), Err(frag)) => assert!(p.message.contains(frag), "{src:?}: {p:?}"),
                (got, want) => panic!("{src:?}: got {got:?}, want {want:?}"),
            }
        }
        assert!(task("t.json", "[1]").is_err());
        let tag = task("t.yaml", "family: f\nnote: !Ref x\n").unwrap_err();
        assert_eq!(tag.line, Some(2), "{tag:?}");
        assert!(tag.message.contains("!Ref at /note"), "{tag:?}");
    }

    #[test]
    fn yaml_duplicate_keys_are_refused_in_every_kind() {
        for (kind, path) in [(Kind::TaskDefinition, "t.yaml"), (Kind::Template, "t.yml")] {
            let p = parse(
                Path::new(path),
                "Resources:\n  A: {Type: T}\n  B: {Type: T}\n  A: {Type: U}\n",
                kind,
            )
            .unwrap_err();
            assert!(
                p.message
                    .contains("invalid YAML: duplicate entry with key \"A\""),
                "{p:?}"
            );
            assert_eq!(p.line, Some(4), "{p:?}");
        }
        let p = parse(
            Path::new("t.json"),
            r#"{"Resources": {"A": {}, "A": {}}}"#,
            Kind::Template,
        )
        .unwrap_err();
        assert!(p.message.contains("duplicate key `A`"), "{p:?}");
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
        let err = task("bomb.yaml", &src).unwrap_err();
        assert!(
            start.elapsed() < Duration::from_millis(500),
            "{:?}",
            start.elapsed()
        );
        assert!(err.message.contains("repetition limit"), "{}", err.message);
    }

    /// A big anchored list referenced many times: under serde_yaml_ng's repetition limit,
    /// it expanded to 2.25 million strings (589 MB, 10 s) before; a larger one ran out of memory.
    fn alias_bomb(width: usize) -> String {
        let item = "x".repeat(28);
        format!(
            "family: f\na: &a [{}]\nb: [{}]\n",
            vec![item; width].join(","),
            vec!["*a"; width].join(",")
        )
    }

    #[test]
    fn aliases_expand_only_up_to_the_limit() {
        let src = alias_bomb(1500);
        assert!(src.len() < 50_000);
        let start = Instant::now();
        let err = task("bomb.yaml", &src).unwrap_err();
        assert!(
            start.elapsed() < Duration::from_secs(3),
            "{:?}",
            start.elapsed()
        );
        assert!(
            err.message
                .contains("grows past 10485760 bytes once its aliases (*name) are expanded"),
            "{err:?}"
        );
        assert!(err.line.is_some(), "{err:?}");
        // A template under CloudFormation's inline limit is held to 1 MB expanded.
        let tpl = format!("Resources: {{}}\n{}", &alias_bomb(700)[10..]);
        assert!(tpl.len() < MAX_TEMPLATE_BYTES as usize);
        let err = template(&tpl).unwrap_err();
        assert!(err.message.contains("grows past 1000000 bytes"), "{err:?}");
        assert!(err.message.contains("template file"), "{err:?}");
        // Ordinary aliases are fine.
        let ok = task("t.yaml", "family: f\nx: &x [1, 2]\ny: *x\n").unwrap();
        assert_eq!(ok["y"], json!([1, 2]));
    }

    #[test]
    fn deep_nesting_is_refused_fast_in_every_syntax() {
        let n = 50_000;
        let cases = [
            (
                "flow sequences",
                format!("family: x\nc: {}{}\n", "[".repeat(n), "]".repeat(n)),
            ),
            (
                "flow mappings",
                format!("family: x\nc: {}x{}\n", "{a: ".repeat(n), "}".repeat(n)),
            ),
            (
                "block sequences",
                format!("family: x\nc:\n{}x\n", "- ".repeat(n)),
            ),
        ];
        for (what, src) in cases {
            let start = Instant::now();
            let err = task("deep.yaml", &src).unwrap_err();
            assert!(
                start.elapsed() < Duration::from_secs(2),
                "{what}: {:?}",
                start.elapsed()
            );
            assert!(
                err.message
                    .contains("nests deeper than 100 levels, the limit"),
                "{what}: {err:?}"
            );
            assert!(err.line.is_some(), "{what}: {err:?}");
        }
        let json = format!("{{\"family\": {}{}}}", "[".repeat(n), "]".repeat(n));
        let err = task("deep.json", &json).unwrap_err();
        assert!(err.message.contains("recursion limit"), "{err:?}");
        assert!(err.message.contains("100 levels"), "{err:?}");
        // At the limit is fine, in both syntaxes.
        let fine = format!("family: x\nc: {}{}\n", "[".repeat(99), "]".repeat(99));
        assert!(task("ok.yaml", &fine).is_ok());
        let fine = format!("{{\"c\": {}{}}}", "[".repeat(99), "]".repeat(99));
        assert!(task("ok.json", &fine).is_ok());
    }

    #[test]
    fn the_flow_scan_ignores_brackets_in_text() {
        let many = "[".repeat(300);
        let src = format!(
            "family: x\na: \"{many}\"\nb: '{many}'\n# {many}\nc: x{many}\nd: |\n  echo {}\n",
            "[ ]".repeat(300)
        );
        assert_eq!(flow_too_deep(&src), None);
        assert!(task("t.yaml", &src).is_ok());
    }

    #[test]
    fn an_unknown_tag_is_named_with_its_line() {
        let err = template("Resources:\n  A:\n    Type: T\n    Properties:\n      X: !Bogus y\n")
            .unwrap_err();
        assert_eq!(err.line, Some(5), "{err:?}");
        assert!(
            err.message
                .contains("unknown CloudFormation tag !Bogus at /Resources/A/Properties/X"),
            "{err:?}"
        );
        assert!(err.message.contains("!Sub"), "{err:?}");
    }

    #[test]
    fn template_keys_and_numbers_keep_what_was_written() {
        let doc = template("Mappings:\n  M:\n    80: {a: .inf}\n    true: {b: 1}\nResources: {}\n")
            .unwrap();
        assert_eq!(doc["Mappings"]["M"]["80"]["a"], json!(".inf"));
        assert_eq!(doc["Mappings"]["M"]["true"]["b"], json!(1));
        // No merge keys in templates (CloudFormation has none): `<<` stays a key.
        let doc = template("a: &a {x: 1}\nb:\n  <<: *a\n").unwrap();
        assert_eq!(doc["b"], json!({"<<": {"x": 1}}));
    }

    #[test]
    fn only_regular_files_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("pipe.json");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let start = Instant::now();
        let err = read(&fifo, Kind::TaskDefinition).unwrap_err();
        assert!(start.elapsed() < Duration::from_secs(1));
        assert!(err.message.contains("is not a regular file"), "{err:?}");
        let err = read(dir.path(), Kind::Parameters).unwrap_err();
        assert!(err.message.contains("is a directory"), "{err:?}");
        let big = dir.path().join("big.yml");
        std::fs::write(&big, "x".repeat(51_201)).unwrap();
        let err = read(&big, Kind::Template).unwrap_err();
        assert!(err.message.contains("51200-byte limit"), "{err:?}");
    }
}
