//! The line of a key in a compose file. The parsed document carries no positions, so a key's
//! line is found in the text by its path: each segment is looked for inside the block of the
//! one before (block YAML by indentation, which is how compose files are written; pretty JSON
//! works the same way). A segment that cannot be found gives the line of its parent.

/// The 1-based line of the key at `path` (`["services", "web", "ports", "1"]`), or of the
/// deepest ancestor found; `None` when not even the first segment is found.
pub fn line_of(text: &str, path: &[&str]) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    let mut start = 0;
    let mut end = lines.len();
    let mut parent: isize = -1;
    let mut found = None;
    for seg in path {
        let hit = match seg.parse::<usize>() {
            Ok(n) => item(&lines, start, end, parent, n),
            Err(_) => key(&lines, start, end, parent, seg),
        };
        let Some((i, indent)) = hit else { break };
        found = Some(i + 1);
        start = i + 1;
        end = block_end(&lines, start, end, indent);
        parent = indent;
        // A key written on the item's own line (`- key: value`) belongs to the item's block.
        if lines[i].trim_start().starts_with("- ") {
            start = i;
        }
    }
    found
}

/// The 1-based lines `first..=last` of the block of the key at `path` (the key's line and
/// everything indented under it).
pub fn span_of(text: &str, path: &[&str]) -> Option<(usize, usize)> {
    let first = line_of(text, path)?;
    let lines: Vec<&str> = text.lines().collect();
    let (indent, _) = content(lines[first - 1])?;
    let end = block_end(&lines, first, lines.len(), indent);
    Some((first, end))
}

fn content(line: &str) -> Option<(isize, &str)> {
    let t = line.trim_start();
    if t.is_empty() || t.starts_with('#') {
        return None;
    }
    Some(((line.len() - t.len()) as isize, t))
}

/// The first line at `start..end` deeper than `parent` naming `key:` (quoted or not,
/// after a list dash or not).
fn key(
    lines: &[&str],
    start: usize,
    end: usize,
    parent: isize,
    key: &str,
) -> Option<(usize, isize)> {
    let forms = [
        format!("{key}:"),
        format!("\"{key}\":"),
        format!("'{key}':"),
    ];
    for (i, line) in lines.iter().enumerate().take(end).skip(start) {
        let Some((indent, t)) = content(line) else {
            continue;
        };
        if indent <= parent && i > start {
            break;
        }
        let (indent, t) = match t.strip_prefix("- ") {
            Some(rest) => (indent + 2, rest.trim_start()),
            None => (indent, t),
        };
        if indent > parent && forms.iter().any(|f| t.starts_with(f.as_str())) {
            return Some((i, indent));
        }
    }
    None
}

/// The `n`th list item (`- `) of the block, counting only the block's own level.
fn item(
    lines: &[&str],
    start: usize,
    end: usize,
    parent: isize,
    n: usize,
) -> Option<(usize, isize)> {
    let mut level = None;
    let mut count = 0;
    for (i, line) in lines.iter().enumerate().take(end).skip(start) {
        let Some((indent, t)) = content(line) else {
            continue;
        };
        if !t.starts_with('-') || indent < parent {
            continue;
        }
        match level {
            None => level = Some(indent),
            Some(l) if l != indent => continue,
            Some(_) => {}
        }
        if count == n {
            return Some((i, indent));
        }
        count += 1;
    }
    None
}

/// The end of the block that starts at `start` under a key indented `indent`.
fn block_end(lines: &[&str], start: usize, end: usize, indent: isize) -> usize {
    for (i, line) in lines.iter().enumerate().take(end).skip(start) {
        if let Some((ind, t)) = content(line) {
            // A sequence may sit at its key's own indentation (`ports:` then `- 80`).
            if ind < indent || (ind == indent && !t.starts_with('-')) {
                return i;
            }
        }
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "name: shop
services:
  web:
    image: nginx
    ports:
      - \"80:80\"
      - 8000-8010
    environment:
      A: b
  worker:
    image: w
    ports:
    - 9000
    deploy:
      resources:
        limits:
          memory: 512
";

    #[test]
    fn keys_are_found_inside_their_parent() {
        assert_eq!(line_of(TEXT, &["services", "web", "image"]), Some(4));
        assert_eq!(line_of(TEXT, &["services", "worker", "image"]), Some(11));
        assert_eq!(line_of(TEXT, &["services", "web", "ports", "1"]), Some(7));
        assert_eq!(
            line_of(TEXT, &["services", "worker", "ports", "0"]),
            Some(13)
        );
        assert_eq!(
            line_of(
                TEXT,
                &[
                    "services",
                    "worker",
                    "deploy",
                    "resources",
                    "limits",
                    "memory"
                ]
            ),
            Some(17)
        );
        assert_eq!(span_of(TEXT, &["services", "web"]), Some((3, 9)));
        // Not found: the parent's line.
        assert_eq!(line_of(TEXT, &["services", "web", "healthcheck"]), Some(3));
        assert_eq!(line_of(TEXT, &["nothing"]), None);
    }
}
