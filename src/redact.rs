//! The process-wide set of secret values, and the scrubber every printed text goes through.
//!
//! Secrets enter in several places (variables substituted into a container's `environment`,
//! variables whose names look secret, the GitHub token, assumed-role credentials). Each is
//! registered here as soon as it is known, and `gha.rs` scrubs every line, summary and output
//! before it leaves the process. A global is deliberate: a secret must be hidden from every
//! printer, including ones written later by someone who does not know it exists.
//!
//! The rules:
//! - A secret is hidden in every encoding in which the program, or AWS quoting it, can print
//!   it: as is; backslash-escaped as in JSON and in Rust's `{:?}` (`\"`, `\\`, `\t`, `\n`,
//!   `\u00XX`, `\u{..}`); escaped for Markdown and HTML (`\*`, `&lt;`, `&amp;`, zero-width
//!   characters, line ends folded into spaces); percent-encoded as in URLs and forms (`%22`,
//!   `+`); and any two of these in a row (a JSON diff line escaped for Markdown). The scrubber
//!   does not know the printers' escaping: it decodes the text in each of these ways and looks
//!   for the secret in every decoded view, then masks the original bytes it came from.
//! - A value shorter than [`MIN_LEN`] characters, or a number of fewer than [`MIN_DIGITS`]
//!   digits, is not hidden: it would blank out ordinary words, ports, revisions and account
//!   ids, and corrupt the ARNs in the outputs, which are machine data. Registering one under a
//!   name ([`register_named`]) leaves a warning naming it (never the value) for the printer.
//! - The run's own credentials are also kept apart ([`register_credential`]), so that a
//!   substituted value equal to one, whatever it was called, can be refused ([`is_credential`]).

use std::borrow::Cow;
use std::ops::Range;
use std::sync::{OnceLock, RwLock};

const MASK: &str = "***";
/// Shorter values are too likely to occur in ordinary text ("true", "admin", "5432").
pub const MIN_LEN: usize = 8;
/// A value of digits only must be at least this long: shorter numbers occur in every ARN (an
/// account id has 12 digits) and in revisions, ports and timestamps.
pub const MIN_DIGITS: usize = 13;

#[derive(Default)]
struct State {
    /// Longest first, so a secret containing another is masked whole.
    secrets: Vec<String>,
    credentials: Vec<String>,
    /// Facts the run prints anyway (its region): never hidden.
    public: Vec<String>,
    /// Warnings not yet printed, and every name already warned about.
    warnings: Vec<String>,
    warned: Vec<String>,
}

fn state() -> &'static RwLock<State> {
    static STATE: OnceLock<RwLock<State>> = OnceLock::new();
    STATE.get_or_init(|| RwLock::new(State::default()))
}

fn write() -> std::sync::RwLockWriteGuard<'static, State> {
    state().write().unwrap_or_else(|e| e.into_inner())
}

/// Whether a value is too short to be hidden (see the module's rules).
pub fn too_short(value: &str) -> bool {
    let v = value.trim();
    let n = v.chars().count();
    n < MIN_LEN || (v.bytes().all(|b| b.is_ascii_digit()) && n < MIN_DIGITS)
}

/// Declares a fact the run prints anyway (its region, in every ARN): a substituted value
/// equal to it is not hidden, where hiding it would blank it out of every ARN in the log.
pub fn declare_public(value: &str) {
    let v = value.trim();
    if v.is_empty() {
        return;
    }
    let mut st = write();
    st.secrets.retain(|s| s != v);
    st.public.push(v.to_string());
}

/// Registers a value that must never be printed. Multi-line values also register each line,
/// and the form with its line ends folded into spaces (as in a Markdown table cell).
/// A value too short to hide is left alone, silently: use [`register_named`] when the value
/// has a name, so the user is told.
pub fn register(value: &str) {
    add(&mut write(), value);
}

/// Registers a secret that came from `name` (a variable, an input, a parameter). A value too
/// short to hide gets a warning naming `name`, printed by the next line the printer writes.
pub fn register_named(name: &str, value: &str) {
    let mut st = write();
    if !value.trim().is_empty() && too_short(value) && !st.warned.iter().any(|n| n == name) {
        st.warned.push(name.to_string());
        st.warnings.push(format!(
            "the value of {name} is too short to be hidden from the log (fewer than {MIN_LEN} characters, or a number of fewer than {MIN_DIGITS} digits) and is shown wherever it is printed: use a longer secret, or pass it through `secrets` (SSM Parameter Store or Secrets Manager)"
        ));
    }
    add(&mut st, value);
}

/// Registers one of the run's own credentials (the AWS secret key or session token, the
/// GitHub token, the runner's tokens): a secret, and a value no task definition may carry.
pub fn register_credential(name: &str, value: &str) {
    let v = value.trim();
    if v.is_empty() {
        return;
    }
    let mut st = write();
    if !st.credentials.iter().any(|c| c == v) {
        st.credentials.push(v.to_string());
    }
    drop(st);
    register_named(name, value);
}

/// Whether `value` is, or contains, one of the run's credentials (see [`register_credential`]):
/// substituting it into a task definition would copy the credential into ECS.
pub fn is_credential(value: &str) -> bool {
    let v = value.trim();
    if v.is_empty() {
        return false;
    }
    let st = state().read().unwrap_or_else(|e| e.into_inner());
    st.credentials
        .iter()
        .any(|c| c == v || (!too_short(c) && v.contains(c.as_str())))
}

/// The warnings left by [`register_named`] since the last call (each printed once).
pub fn take_warnings() -> Vec<String> {
    let mut st = write();
    if st.warnings.is_empty() {
        return Vec::new();
    }
    std::mem::take(&mut st.warnings)
}

fn add(st: &mut State, value: &str) {
    let mut forms = vec![value.to_string()];
    if value.contains(['\r', '\n']) {
        forms.extend(value.lines().map(|l| l.trim().to_string()));
        forms.push(value.replace(['\r', '\n'], " "));
    }
    let mut added = false;
    for f in forms {
        if !too_short(&f) && !st.secrets.contains(&f) && !st.public.contains(&f) {
            st.secrets.push(f);
            added = true;
        }
    }
    if added {
        st.secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// Replaces every registered secret in `text`, in any of the encodings of the module's rules,
/// by `***`.
pub fn scrub(text: &str) -> Cow<'_, str> {
    let st = state().read().unwrap_or_else(|e| e.into_inner());
    if st.secrets.is_empty() || text.is_empty() || text.len() > u32::MAX as usize {
        return Cow::Borrowed(text);
    }
    let mut hits: Vec<Range<usize>> = Vec::new();
    // The text as it is: a plain search, the common case.
    for s in &st.secrets {
        hits.extend(text.match_indices(s.as_str()).map(|(i, m)| i..i + m.len()));
    }
    // Decoded views: each decoding alone, then each pair of different decodings in turn.
    if text.contains([
        '\\', '&', '%', '+', '\u{200b}', '\u{200c}', '\u{200d}', '\u{2060}', '\u{feff}',
    ]) {
        let plain = pieces(text);
        for (a, first) in DECODERS.iter().enumerate() {
            let Some(once) = first(&plain) else { continue };
            find(&once, &st.secrets, &mut hits);
            for (b, second) in DECODERS.iter().enumerate() {
                if a == b {
                    continue;
                }
                if let Some(twice) = second(&once) {
                    find(&twice, &st.secrets, &mut hits);
                }
            }
        }
    }
    if hits.is_empty() {
        return Cow::Borrowed(text);
    }
    hits.sort_by_key(|r| (r.start, std::cmp::Reverse(r.end)));
    let mut out = String::with_capacity(text.len());
    let mut at = 0;
    for r in hits {
        if r.start < at {
            // Overlaps the previous mask: extend it.
            at = at.max(r.end);
            continue;
        }
        out.push_str(&text[at..r.start]);
        out.push_str(MASK);
        at = r.end;
    }
    out.push_str(&text[at..]);
    Cow::Owned(out)
}

/// One character of a decoded view and the bytes of the original text it stands for.
/// Offsets are `u32` to keep a view of a large summary small (texts are far below 4 GiB).
#[derive(Debug, Clone, Copy)]
struct Piece {
    c: char,
    start: u32,
    end: u32,
}

fn pieces(text: &str) -> Vec<Piece> {
    text.char_indices()
        .map(|(i, c)| Piece {
            c,
            start: i as u32,
            end: (i + c.len_utf8()) as u32,
        })
        .collect()
}

/// A decoding: `None` when it decodes nothing (the view would repeat its input).
type Decoder = fn(&[Piece]) -> Option<Vec<Piece>>;

const DECODERS: &[Decoder] = &[decode_backslash, decode_markup, decode_percent];

/// Searches one decoded view and records the original ranges of every secret found.
fn find(view: &[Piece], secrets: &[String], hits: &mut Vec<Range<usize>>) {
    let mut s = String::with_capacity(view.len());
    // For each byte of `s`, the piece it belongs to.
    let mut owner = Vec::with_capacity(view.len());
    for (i, p) in view.iter().enumerate() {
        s.push(p.c);
        owner.extend(std::iter::repeat_n(i as u32, p.c.len_utf8()));
    }
    for secret in secrets {
        for (i, m) in s.match_indices(secret.as_str()) {
            let first = view[owner[i] as usize];
            let last = view[owner[i + m.len() - 1] as usize];
            hits.push(first.start as usize..last.end as usize);
        }
    }
}

fn merged(c: char, from: &[Piece]) -> Piece {
    Piece {
        c,
        start: from[0].start,
        end: from[from.len() - 1].end,
    }
}

fn hex_value(p: &[Piece]) -> Option<u32> {
    if p.is_empty() || p.len() > 8 {
        return None;
    }
    p.iter()
        .try_fold(0u32, |acc, x| Some(acc * 16 + x.c.to_digit(16)?))
}

/// Backslash escapes of JSON and of Rust's `{:?}`: `\"`, `\\`, `\/`, `\'`, `\b`, `\f`, `\n`,
/// `\r`, `\t`, `\0`, `\xHH`, `\uXXXX` (with surrogate pairs) and `\u{H..}`.
fn decode_backslash(p: &[Piece]) -> Option<Vec<Piece>> {
    let mut out = Vec::with_capacity(p.len());
    let mut changed = false;
    let mut i = 0;
    while i < p.len() {
        if let Some((c, len)) = backslash_escape(&p[i..]) {
            out.push(merged(c, &p[i..i + len]));
            changed = true;
            i += len;
        } else {
            out.push(p[i]);
            i += 1;
        }
    }
    changed.then_some(out)
}

fn backslash_escape(p: &[Piece]) -> Option<(char, usize)> {
    if p.first()?.c != '\\' {
        return None;
    }
    let simple = match p.get(1)?.c {
        c @ ('"' | '\\' | '/' | '\'') => Some(c),
        'b' => Some('\u{8}'),
        'f' => Some('\u{c}'),
        'n' => Some('\n'),
        'r' => Some('\r'),
        't' => Some('\t'),
        '0' => Some('\0'),
        _ => None,
    };
    if let Some(c) = simple {
        return Some((c, 2));
    }
    match p[1].c {
        'x' => {
            let v = hex_value(p.get(2..4)?)?;
            Some((char::from_u32(v)?, 4))
        }
        'u' if p.get(2)?.c == '{' => {
            let close = p.iter().take(11).position(|x| x.c == '}')?;
            let v = hex_value(&p[3..close])?;
            Some((char::from_u32(v)?, close + 1))
        }
        'u' => {
            let v = hex_value(p.get(2..6)?)?;
            if (0xD800..0xDC00).contains(&v) {
                // A high surrogate: only a pair makes a character.
                if p.get(6)?.c != '\\' || p.get(7)?.c != 'u' {
                    return None;
                }
                let low = hex_value(p.get(8..12)?)?;
                if !(0xDC00..0xE000).contains(&low) {
                    return None;
                }
                let c = char::from_u32(0x10000 + ((v - 0xD800) << 10) + (low - 0xDC00))?;
                return Some((c, 12));
            }
            Some((char::from_u32(v)?, 6))
        }
        _ => None,
    }
}

/// Markdown and HTML: a backslash before ASCII punctuation (CommonMark), character references
/// (`&lt;`, `&gt;`, `&amp;`, `&quot;`, `&apos;`, `&#NN;`, `&#xHH;`), and the invisible
/// characters inserted to break mentions and commands (zero-width space, joiners, word joiner).
fn decode_markup(p: &[Piece]) -> Option<Vec<Piece>> {
    let mut out = Vec::with_capacity(p.len());
    let mut changed = false;
    let mut i = 0;
    while i < p.len() {
        let c = p[i].c;
        if matches!(
            c,
            '\u{200b}' | '\u{200c}' | '\u{200d}' | '\u{2060}' | '\u{feff}'
        ) {
            // Dropped: a match across it still masks it, as the pieces around it span it.
            changed = true;
            i += 1;
            continue;
        }
        if c == '\\' {
            if let Some(next) = p.get(i + 1).filter(|n| n.c.is_ascii_punctuation()) {
                out.push(merged(next.c, &p[i..i + 2]));
                changed = true;
                i += 2;
                continue;
            }
        }
        if c == '&' {
            if let Some((d, len)) = entity(&p[i..]) {
                out.push(merged(d, &p[i..i + len]));
                changed = true;
                i += len;
                continue;
            }
        }
        out.push(p[i]);
        i += 1;
    }
    changed.then_some(out)
}

fn entity(p: &[Piece]) -> Option<(char, usize)> {
    let close = p.iter().take(10).position(|x| x.c == ';')?;
    let name: String = p[1..close].iter().map(|x| x.c).collect();
    let c = match name.as_str() {
        "lt" => '<',
        "gt" => '>',
        "amp" => '&',
        "quot" => '"',
        "apos" => '\'',
        n => {
            let n = n.strip_prefix('#')?;
            let v = match n.strip_prefix(['x', 'X']) {
                Some(h) => u32::from_str_radix(h, 16).ok()?,
                None => n.parse().ok()?,
            };
            char::from_u32(v)?
        }
    };
    Some((c, close + 1))
}

/// Percent-encoding (`%22`, `%C3%A9` as UTF-8) and `+` for a space, as in URLs and forms.
fn decode_percent(p: &[Piece]) -> Option<Vec<Piece>> {
    let mut out = Vec::with_capacity(p.len());
    let mut changed = false;
    let mut i = 0;
    while i < p.len() {
        if p[i].c == '+' {
            out.push(Piece { c: ' ', ..p[i] });
            changed = true;
            i += 1;
            continue;
        }
        if let Some((c, len)) = percent_char(&p[i..]) {
            out.push(merged(c, &p[i..i + len]));
            changed = true;
            i += len;
            continue;
        }
        out.push(p[i]);
        i += 1;
    }
    changed.then_some(out)
}

/// One character of percent-encoded UTF-8 at the start of `p`: the character and the pieces.
fn percent_char(p: &[Piece]) -> Option<(char, usize)> {
    let byte = |k: usize| -> Option<u8> {
        let at = p.get(3 * k..3 * k + 3)?;
        if at[0].c != '%' {
            return None;
        }
        u8::try_from(hex_value(&at[1..3])?).ok()
    };
    let lead = byte(0)?;
    let len = match lead {
        0x00..=0x7f => 1,
        0xc0..=0xdf => 2,
        0xe0..=0xef => 3,
        0xf0..=0xf7 => 4,
        _ => return None,
    };
    let bytes: Vec<u8> = (0..len).map(byte).collect::<Option<_>>()?;
    let c = std::str::from_utf8(&bytes).ok()?.chars().next()?;
    Some((c, 3 * len))
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

    /// The secret of the canary tests: a quote, a backslash, a TAB, a newline and `&<>`.
    const HOSTILE: &str = "Qz7\"Wx1\\Rt4\tYu8\nPl2&<>Mk9";

    fn assert_hidden(text: &str) {
        let s = scrub(text);
        for part in ["Qz7", "Wx1", "Rt4", "Yu8", "Pl2", "Mk9"] {
            assert!(
                !s.contains(part),
                "{part} of the secret left in {s:?} (from {text:?})"
            );
        }
    }

    #[test]
    fn every_encoding_of_a_secret_is_scrubbed() {
        register(HOSTILE);
        let json = serde_json::to_string(HOSTILE).unwrap();
        // As is, JSON-escaped (as in a diff of `command`), and inside a longer JSON document.
        assert_hidden(&format!("x {HOSTILE} y"));
        assert_hidden(&format!("command: (unset) → [\"run\",{json}]"));
        assert_hidden(&serde_json::json!({ "a": { "b": HOSTILE } }).to_string());
        // `{:?}` (Rust's Debug, as in SDK debug logs).
        assert_hidden(&format!("{:?}", HOSTILE));
        // JSON with every character escaped as \uXXXX, in both cases of hex digits.
        let u: String = HOSTILE
            .chars()
            .map(|c| format!("\\u{:04x}", c as u32))
            .collect();
        assert_hidden(&u);
        assert_hidden(&u.to_uppercase().replace("\\U", "\\u"));
        // Markdown as report::md escapes it: backslashes, entities, line ends as spaces.
        let md = "Qz7\"Wx1\\\\Rt4\tYu8 Pl2&amp;&lt;&gt;Mk9";
        assert_hidden(&format!("| app | {md} |"));
        // Markdown of the JSON-escaped form (a diff line in the job summary).
        let md_json = json
            .replace('\\', "\\\\")
            .replace('&', "&amp;")
            .replace('<', "&lt;")
            .replace('>', "&gt;");
        assert_hidden(&format!("- `command`: {md_json}"));
        // URL-encoded, upper and lower case, and form-encoded.
        let url: String = HOSTILE.bytes().map(|b| format!("%{b:02X}")).collect();
        assert_hidden(&format!("https://x/?p={url}"));
        assert_hidden(&url.to_lowercase());
        assert_hidden("Qz7%22Wx1%5CRt4%09Yu8%0APl2%26%3C%3EMk9");
        // JSON of the URL-encoded form, and URL-encoding of the JSON form.
        assert_hidden(&serde_json::to_string(&url).unwrap());
        let url_json: String = json.bytes().map(|b| format!("%{b:02x}")).collect();
        assert_hidden(&url_json);
        // A zero-width space inserted by the printer does not hide it from the scrubber.
        assert_hidden("Qz7\"Wx1\\Rt4\tYu8\nPl2&<>\u{200b}Mk9");
    }

    #[test]
    fn text_around_a_secret_survives_decoding() {
        register("s3cr3t-v4lue-+/&");
        let text = "a \\\"q\\\" %41 &amp; s3cr3t-v4lue-%2B%2F%26 b+c";
        assert_eq!(scrub(text), "a \\\"q\\\" %41 &amp; *** b+c");
        let json = serde_json::json!({"k": "s3cr3t-v4lue-+/&", "n": "ok"}).to_string();
        assert_eq!(scrub(&json), r#"{"k":"***","n":"ok"}"#);
    }

    #[test]
    fn short_values_never_corrupt_arns() {
        register_named("DB_PIN", "1234");
        register_named("DB_NUMBER", "123456789012");
        register("hunter2");
        let arn = "arn:aws:ecs:us-east-1:123456789012:task-definition/app:1234";
        assert_eq!(scrub(arn), arn);
        assert_eq!(scrub("hunter2"), "hunter2");
        let w = take_warnings();
        assert!(w.iter().any(|w| w.contains("DB_PIN")), "{w:?}");
        assert!(w.iter().any(|w| w.contains("DB_NUMBER")), "{w:?}");
        assert!(w.iter().all(|w| !w.contains("1234")), "{w:?}");
        // Each name once.
        register_named("DB_PIN", "1234");
        assert!(!take_warnings().iter().any(|w| w.contains("DB_PIN")));
        // Long enough: hidden, also inside a longer word.
        register_named("LONG_NUMBER", "1234567890123");
        assert_eq!(scrub("x1234567890123y"), "x***y");
    }

    #[test]
    fn credentials_are_recognised_under_any_name() {
        register_credential("GITHUB_TOKEN", "ghs_credentialCanary0123456789");
        assert!(is_credential("ghs_credentialCanary0123456789"));
        assert!(is_credential(" ghs_credentialCanary0123456789\n"));
        assert!(is_credential("Bearer ghs_credentialCanary0123456789"));
        assert!(!is_credential("ghs_credentialCanary"));
        assert!(!is_credential(""));
        assert_eq!(scrub("t=ghs_credentialCanary0123456789"), "t=***");
        // Secrets that are not credentials are not refused.
        register("an-ordinary-secret-value");
        assert!(!is_credential("an-ordinary-secret-value"));
    }
}
