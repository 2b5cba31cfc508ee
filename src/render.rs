//! Rendering: from task-definition files to RegisterTaskDefinition documents.
//!
//! Read the file (refusing directories, huge files and invalid UTF-8), parse it, substitute
//! variables (`subst.rs`), unwrap and strip read-only fields (`taskdef.rs`), then apply the
//! `images` overrides. Every problem in every file is collected before anything is returned.
//! Values that must stay secret are registered with `redact.rs` here, where they are known.

use serde_json::Value;

use crate::config::Target;
use crate::error::InputProblem;
use crate::gha::Location;
use crate::{redact, subst, taskdef};

/// Files larger than this are refused: a task definition is a few kilobytes, and ECS's own
/// limit on a registered one is 64 KiB.
pub const MAX_FILE_BYTES: u64 = 10 * 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Rendered {
    pub target: Target,
    pub body: Value,
    pub tags: Option<Vec<Value>>,
}

/// Renders every target's file. `lookup` gives a variable's value (environment and stack
/// outputs). Returns the documents and the warnings, or every problem found.
pub fn render_all(
    targets: &[Target],
    images: &[(String, String)],
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<(Vec<Rendered>, Vec<String>), Vec<InputProblem>> {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let mut out = Vec::new();
    for t in targets {
        let Some(path) = &t.file else { continue };
        let file_at = |line: Option<usize>, col: Option<usize>| Location {
            file: Some(std::path::PathBuf::from(&t.shown)),
            line,
            col,
        };
        let text = match read_text(path, "task-definition") {
            Ok(text) => text,
            Err(msg) => {
                problems.push(InputProblem::at(
                    file_at(None, None),
                    format!("{}: {msg}", t.shown),
                ));
                continue;
            }
        };
        let doc = match subst::parse_document(path, &text) {
            Ok(d) => d,
            Err(p) => {
                problems.push(InputProblem::at(
                    file_at(p.line, p.column),
                    format!("{}: {}", t.shown, p.message),
                ));
                continue;
            }
        };
        let done = match subst::substitute(&doc, &text, lookup) {
            Ok(d) => d,
            Err(ps) => {
                problems.extend(ps.into_iter().map(|p| {
                    InputProblem::at(
                        file_at(p.line, p.column),
                        format!("{}: {}", t.shown, p.message),
                    )
                }));
                continue;
            }
        };
        register_secrets(&done.doc, &done.used);
        warnings.extend(done.warnings.iter().map(|w| format!("{}: {w}", t.shown)));
        match taskdef::prepare(done.doc) {
            Ok(p) => out.push(Rendered {
                target: t.clone(),
                body: p.body,
                tags: p.tags,
            }),
            Err(msg) => problems.push(InputProblem::at(
                file_at(None, None),
                format!("{}: {msg}", t.shown),
            )),
        }
    }
    for (container, image) in images {
        let mut hits = 0;
        for r in &mut out {
            if taskdef::set_image(&mut r.body, container, image) {
                hits += 1;
            }
        }
        if hits == 0 && problems.is_empty() {
            problems.push(InputProblem::new(format!(
                "input images: no task definition has a container named `{container}`: check the name against containerDefinitions[].name"
            )));
        }
    }
    if problems.is_empty() {
        Ok((out, warnings))
    } else {
        Err(problems)
    }
}

/// Registers the substituted values that must never be printed: every value of a variable
/// whose name looks secret, and values that landed in `environment` or `secrets` unless the
/// same text is already visible in a public field of the document (an image, a family, a
/// log group), where hiding it would only blank out ordinary words in the log, or the value
/// is a stack output.
fn register_secrets(doc: &Value, used: &[subst::Used]) {
    let mut public = Vec::new();
    collect_public(doc, "", &mut public);
    for u in used {
        let in_env = is_private_pointer(&u.pointer);
        let visible = public.iter().any(|p| p.contains(u.value.as_str()));
        // Stack outputs are readable by anyone with cloudformation:DescribeStacks and are
        // shown as the `stack-outputs` output: not secrets, unless named like one.
        let from_stack = u.name.starts_with("STACK_");
        if subst::looks_secret(&u.name) || (in_env && !visible && !from_stack) {
            redact::register(&u.value);
        }
    }
}

fn is_private_pointer(pointer: &str) -> bool {
    pointer.contains("/environment/") || pointer.contains("/secrets/")
}

fn collect_public<'a>(v: &'a Value, pointer: &str, out: &mut Vec<&'a str>) {
    match v {
        Value::String(s) if !is_private_pointer(pointer) => out.push(s),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                collect_public(item, &format!("{pointer}/{i}"), out);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                collect_public(item, &format!("{pointer}/{k}"), out);
            }
        }
        _ => {}
    }
}

/// Reads a file the user named (`what`: "task-definition", "template", …), refusing
/// directories, files over `MAX_FILE_BYTES`, empty files and invalid UTF-8.
pub fn read_text(path: &std::path::Path, what: &str) -> Result<String, String> {
    let meta = std::fs::metadata(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => {
            "file not found: check the path (it is relative to the repository root)".to_string()
        }
        _ => format!("cannot read the file: {e}"),
    })?;
    if meta.is_dir() {
        return Err(format!("is a directory, not a {what} file"));
    }
    if meta.len() > MAX_FILE_BYTES {
        return Err(format!(
            "file is {} bytes, over the {MAX_FILE_BYTES}-byte limit for a {what} file",
            meta.len()
        ));
    }
    let bytes = std::fs::read(path).map_err(|e| format!("cannot read the file: {e}"))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(format!(
            "file is empty: it must hold a {what} (JSON or YAML)"
        ));
    }
    String::from_utf8(bytes).map_err(|e| {
        format!(
            "file is not valid UTF-8 (first bad byte at offset {}): save it as UTF-8",
            e.utf8_error().valid_up_to()
        )
    })
}
