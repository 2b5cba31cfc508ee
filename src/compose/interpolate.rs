//! Interpolation as the compose specification defines it: `$VAR`, `${VAR}`, `${VAR:-default}`,
//! `${VAR-default}`, `${VAR:?message}`, `${VAR?message}`, `${VAR:+alternative}`,
//! `${VAR+alternative}` (defaults and alternatives may hold placeholders), and `$$` for `$`.
//!
//! The rules of DESIGN section 3 that are not about syntax are `subst.rs`'s and hold here:
//! only string values are touched (a value can never change the document's shape), names that
//! carry credentials are never substituted (`subst::is_forbidden`), and it is strict: every
//! unset variable without a default is a problem, all of them reported at once (the caller
//! keeps those of the services it deploys). A `${VAR:?message}`'s message is shown as
//! written, never expanded: it cannot carry a secret's value into the error.

use serde_json::Value;

use crate::subst::{self, Used};

/// A problem with one placeholder; `needle` is its text in the file, to find its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Issue {
    pub pointer: String,
    pub needle: String,
    pub message: String,
}

/// A document interpolated: the values, the variables used, and every problem with its
/// pointer (the caller decides which matter: only the services deployed must interpolate).
#[derive(Debug)]
pub struct Interpolated {
    pub doc: Value,
    pub used: Vec<Used>,
    pub issues: Vec<Issue>,
}

/// Interpolates every string value of `doc` (keys are not interpolated). A placeholder with
/// a problem becomes the empty string, and its issue says why.
pub fn interpolate(doc: &Value, lookup: &dyn Fn(&str) -> Option<String>) -> Interpolated {
    let mut st = State {
        lookup,
        used: Vec::new(),
        issues: Vec::new(),
        pointer: String::new(),
    };
    let out = st.walk(doc, "");
    Interpolated {
        doc: out,
        used: st.used,
        issues: st.issues,
    }
}

/// Interpolates one string outside the document (an env file's value) by the same rules:
/// the value, the variables used and every problem (their pointers are empty).
pub fn string(s: &str, lookup: &dyn Fn(&str) -> Option<String>) -> (String, Vec<Used>, Vec<Issue>) {
    let mut st = State {
        lookup,
        used: Vec::new(),
        issues: Vec::new(),
        pointer: String::new(),
    };
    let out = st.expand(s);
    (out, st.used, st.issues)
}

struct State<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    used: Vec<Used>,
    issues: Vec<Issue>,
    pointer: String,
}

impl State<'_> {
    fn walk(&mut self, v: &Value, pointer: &str) -> Value {
        match v {
            Value::String(s) => {
                self.pointer = pointer.to_string();
                Value::String(self.expand(s))
            }
            Value::Array(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| self.walk(item, &format!("{pointer}/{i}")))
                    .collect(),
            ),
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, item)| {
                        let p = format!("{pointer}/{}", k.replace('~', "~0").replace('/', "~1"));
                        (k.clone(), self.walk(item, &p))
                    })
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    fn issue(&mut self, needle: &str, message: String) {
        self.issues.push(Issue {
            pointer: self.pointer.clone(),
            needle: needle.to_string(),
            message,
        });
    }

    /// The value of a variable, `None` when unset; a credential's name is a problem.
    fn get(&mut self, name: &str, needle: &str) -> Option<String> {
        if subst::is_forbidden(name) {
            self.issue(
                needle,
                format!(
                    "variable {name} carries the runner's or AWS's credentials and is never substituted: pass what the container needs through `secrets` (SSM or Secrets Manager)"
                ),
            );
            return Some(String::new());
        }
        (self.lookup)(name)
    }

    fn record(&mut self, name: &str, value: &str) {
        self.used.push(Used {
            name: name.to_string(),
            value: value.to_string(),
            pointer: self.pointer.clone(),
        });
    }

    fn expand(&mut self, s: &str) -> String {
        let mut out = String::new();
        let mut rest = s;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            if let Some(r) = after.strip_prefix('$') {
                out.push('$');
                rest = r;
            } else if let Some(body) = after.strip_prefix('{') {
                match matching_brace(body) {
                    Some(end) => {
                        let raw = &rest[i..i + 2 + end + 1];
                        out.push_str(&self.braced(&body[..end], raw));
                        rest = &body[end + 1..];
                    }
                    None => {
                        let raw = rest[i..].lines().next().unwrap_or_default().to_string();
                        self.issue(
                            &raw,
                            format!("placeholder `{raw}` is never closed: add `}}`, or write `$$` for a literal `$`"),
                        );
                        rest = "";
                    }
                }
            } else {
                let len = name_len(after);
                if len == 0 {
                    // A `$` before anything but a name is kept, as compose keeps it.
                    out.push('$');
                    rest = after;
                    continue;
                }
                let name = &after[..len];
                let needle = format!("${name}");
                match self.get(name, &needle) {
                    Some(v) => {
                        self.record(name, &v);
                        out.push_str(&v);
                    }
                    None => self.unset(name, &needle),
                }
                rest = &after[len..];
            }
        }
        out.push_str(rest);
        out
    }

    fn unset(&mut self, name: &str, needle: &str) {
        self.issue(
            needle,
            format!(
                "variable {name} is not set: set it in the job's env, give a default (${{{name}:-default}}), or write `$${name}` for a literal `${name}` (the container's shell then expands it)"
            ),
        );
    }

    /// `${…}` without its braces; `raw` is the whole placeholder as written.
    fn braced(&mut self, body: &str, raw: &str) -> String {
        let len = name_len(body);
        let name = &body[..len];
        let op_and_arg = &body[len..];
        if len == 0 {
            self.issue(
                raw,
                format!("placeholder `{raw}` has no valid variable name (letters, digits and _, not starting with a digit)"),
            );
            return String::new();
        }
        let ops = [":-", ":?", ":+", "-", "?", "+"];
        let Some(op) = ops.iter().find(|o| op_and_arg.starts_with(**o)) else {
            if !op_and_arg.is_empty() {
                self.issue(
                    raw,
                    format!("placeholder `{raw}` is not a compose interpolation: use ${{{name}}}, ${{{name}:-default}}, ${{{name}:?message}} or ${{{name}:+alternative}}"),
                );
                return String::new();
            }
            let needle = format!("${{{name}}}");
            return match self.get(name, &needle) {
                Some(v) => {
                    self.record(name, &v);
                    v
                }
                None => {
                    self.unset(name, &needle);
                    String::new()
                }
            };
        };
        let arg = &op_and_arg[op.len()..];
        let needle = format!("${{{name}{op}");
        let value = self.get(name, &needle);
        let empty_counts = op.starts_with(':');
        let set = match &value {
            Some(v) => !(empty_counts && v.is_empty()),
            None => false,
        };
        match op.trim_start_matches(':') {
            "-" if set => {
                let v = value.unwrap_or_default();
                self.record(name, &v);
                v
            }
            "-" => self.expand(arg),
            "?" if set => {
                let v = value.unwrap_or_default();
                self.record(name, &v);
                v
            }
            "?" => {
                // The message is shown as written: expanded, `${X:?${SECRET}}` would print a
                // secret's value (or a credential's) in the error.
                let what = if value.is_some() {
                    "is empty"
                } else {
                    "is not set"
                };
                let message = if arg.trim().is_empty() {
                    String::new()
                } else {
                    format!(": {arg}")
                };
                self.issue(
                    &needle,
                    format!("variable {name} {what}, and the file requires it{message}"),
                );
                String::new()
            }
            _ if set => self.expand(arg),
            _ => String::new(),
        }
    }
}

/// The length of the variable name at the start of `s`.
fn name_len(s: &str) -> usize {
    let mut n = 0;
    for (i, c) in s.char_indices() {
        let ok = c == '_' || c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit());
        if !ok {
            break;
        }
        n = i + c.len_utf8();
    }
    n
}

/// The index of the `}` closing a `${` whose body starts `body`, nested `${…}` included.
fn matching_brace(body: &str) -> Option<usize> {
    let mut depth = 0usize;
    let bytes = body.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'$' if bytes.get(i + 1) == Some(&b'$') => i += 1,
            b'$' if bytes.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn vars(name: &str) -> Option<String> {
        match name {
            "TAG" => Some("v1".into()),
            "EMPTY" => Some(String::new()),
            "HOST" => Some("db".into()),
            "GITHUB_TOKEN" => Some("ghs_x".into()),
            _ => None,
        }
    }

    fn one(s: &str) -> Result<String, Vec<String>> {
        let done = interpolate(&json!({ "x": s }), &vars);
        if done.issues.is_empty() {
            Ok(done.doc["x"].as_str().unwrap().to_string())
        } else {
            Err(done.issues.into_iter().map(|i| i.message).collect())
        }
    }

    #[test]
    fn every_form_of_the_specification() {
        let ok: &[(&str, &str)] = &[
            ("$TAG", "v1"),
            ("${TAG}", "v1"),
            ("app:$TAG-x", "app:v1-x"),
            ("${NOPE:-d}", "d"),
            ("${EMPTY:-d}", "d"),
            ("${NOPE-d}", "d"),
            ("${EMPTY-d}", ""),
            ("${TAG:-d}", "v1"),
            ("${TAG:?must}", "v1"),
            ("${TAG:+alt}", "alt"),
            ("${EMPTY:+alt}", ""),
            ("${EMPTY+alt}", "alt"),
            ("${NOPE+alt}", ""),
            ("${NOPE:-${HOST:-x}}", "db"),
            ("cost $$5 $${TAG}", "cost $5 ${TAG}"),
            ("100$", "100$"),
            ("${EMPTY}", ""),
        ];
        for (input, want) in ok {
            assert_eq!(one(input).as_deref(), Ok(*want), "{input}");
        }
        let bad: &[(&str, &str)] = &[
            ("$NOPE", "variable NOPE is not set"),
            ("${NOPE}", "variable NOPE is not set"),
            (
                "${NOPE:?set the database host}",
                "variable NOPE is not set, and the file requires it: set the database host",
            ),
            ("${EMPTY:?needed}", "variable EMPTY is empty"),
            ("${NOPE?needed}", "is not set"),
            ("${TAG", "is never closed"),
            ("${1A}", "no valid variable name"),
            ("${TAG/x}", "is not a compose interpolation"),
            ("$GITHUB_TOKEN", "never substituted"),
            ("${GITHUB_TOKEN:-x}", "never substituted"),
        ];
        for (input, want) in bad {
            let got = one(input).unwrap_err();
            assert!(got.iter().any(|m| m.contains(want)), "{input}: {got:?}");
        }
    }

    #[test]
    fn a_required_variables_message_is_shown_as_written_never_expanded() {
        let lookup = |n: &str| match n {
            "DB_PASSWORD" => Some("canary-message-pw-9321".to_string()),
            "GITHUB_TOKEN" => Some("ghs_canary_message".to_string()),
            _ => None,
        };
        for (input, want) in [
            (
                "${NOPE:?the password is ${DB_PASSWORD}}",
                "variable NOPE is not set, and the file requires it: the password is ${DB_PASSWORD}",
            ),
            (
                "${NOPE?$GITHUB_TOKEN}",
                "variable NOPE is not set, and the file requires it: $GITHUB_TOKEN",
            ),
            ("${NOPE:?}", "variable NOPE is not set, and the file requires it"),
        ] {
            let issues = interpolate(&json!({ "x": input }), &lookup).issues;
            let messages: Vec<&str> = issues.iter().map(|i| i.message.as_str()).collect();
            assert_eq!(messages, vec![want], "{input}");
            assert!(
                messages
                    .iter()
                    .all(|m| !m.contains("canary-message-pw-9321") && !m.contains("ghs_canary")),
                "{messages:?}"
            );
        }
    }

    #[test]
    fn all_unset_variables_are_listed_and_uses_recorded() {
        let doc = json!({"services": {"a": {"image": "$A", "environment": {"X": "${B}", "Y": "${TAG}"}}}});
        let issues = interpolate(&doc, &vars).issues;
        let needles: Vec<&str> = issues.iter().map(|i| i.needle.as_str()).collect();
        assert_eq!(needles, vec!["$A", "${B}"]);
        assert_eq!(issues[1].pointer, "/services/a/environment/X");
        let doc = json!({"services": {"a": {"environment": {"Y": "${TAG}"}}}});
        let done = interpolate(&doc, &vars);
        assert!(done.issues.is_empty());
        let used = done.used;
        assert_eq!(used[0].name, "TAG");
        assert_eq!(used[0].pointer, "/services/a/environment/Y");
    }
}
