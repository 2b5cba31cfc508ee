//! The process-wide set of secret values, and the scrubber every printed text goes through.
//!
//! Secrets enter in several places (variables substituted into a container's `environment`,
//! variables whose names look secret, the GitHub token, assumed-role credentials). Each is
//! registered here as soon as it is known, and `gha.rs` scrubs every line, summary and output
//! before it leaves the process. A global is deliberate: a secret must be hidden from every
//! printer, including ones written later by someone who does not know it exists.

use std::borrow::Cow;
use std::sync::{OnceLock, RwLock};

const MASK: &str = "***";
/// Shorter values are too likely to occur in ordinary text ("1", "true") to be replaced.
const MIN_LEN: usize = 4;

fn secrets() -> &'static RwLock<Vec<String>> {
    static SECRETS: OnceLock<RwLock<Vec<String>>> = OnceLock::new();
    SECRETS.get_or_init(|| RwLock::new(Vec::new()))
}

/// Registers a value that must never be printed. Multi-line values also register each line.
pub fn register(value: &str) {
    let mut list = secrets().write().unwrap_or_else(|e| e.into_inner());
    let mut add = |v: &str| {
        if v.len() >= MIN_LEN && !list.iter().any(|s| s == v) {
            list.push(v.to_string());
        }
    };
    add(value);
    for line in value.lines() {
        add(line.trim());
    }
    // Longest first, so a secret containing another is replaced whole.
    list.sort_by_key(|s| std::cmp::Reverse(s.len()));
}

/// Replaces every registered secret in `text` by `***`.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let list = secrets().read().unwrap_or_else(|e| e.into_inner());
    if !list.iter().any(|s| text.contains(s.as_str())) {
        return Cow::Borrowed(text);
    }
    let mut out = text.to_string();
    for s in list.iter() {
        if out.contains(s.as_str()) {
            out = out.replace(s.as_str(), MASK);
        }
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_values_are_scrubbed_and_short_ones_ignored() {
        register("canary-redact-0001");
        register("abc");
        register("line-one-secret\nline-two-secret");
        assert_eq!(scrub("x canary-redact-0001 y"), "x *** y");
        assert_eq!(scrub("abc"), "abc");
        assert_eq!(scrub("a line-two-secret b"), "a *** b");
        assert!(matches!(scrub("nothing here"), Cow::Borrowed(_)));
    }
}
