//! A small block-style YAML emitter for JSON values, in the style of the
//! cloud-init documentation (`key: value`, `- item`, `|` blocks for file
//! contents).
//!
//! Why not a YAML crate: the widely used serde_yaml is unmaintained, and
//! cloud-init parses with PyYAML, a YAML 1.1 parser that reads `yes`, `on`,
//! `0644` or `1:20` in plain scalars as booleans and numbers. This emitter
//! writes a plain scalar only where YAML 1.1 and 1.2 both read it as the same
//! string, and quotes everything else, so what we serialise is what
//! cloud-init reads. Values are built with serde; only the layout is ours.

use serde_json::Value;

/// Renders `value` as a block-style YAML document (no `---`), ending with a
/// newline.
pub(crate) fn to_string(value: &Value) -> String {
    let mut out = String::new();
    match value {
        Value::Object(map) if !map.is_empty() => write_map(&mut out, map, 0),
        Value::Array(items) if !items.is_empty() => write_seq(&mut out, items, 0),
        other => {
            out.push_str(&scalar(other, 0));
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn write_map(out: &mut String, map: &serde_json::Map<String, Value>, level: usize) {
    for (i, (k, v)) in map.iter().enumerate() {
        // The first key of a map inside a sequence item shares the "- " line.
        if i > 0 || !out.ends_with("- ") {
            indent(out, level);
        }
        out.push_str(&key(k));
        out.push(':');
        write_value(out, v, level);
    }
}

fn write_seq(out: &mut String, items: &[Value], level: usize) {
    for (i, v) in items.iter().enumerate() {
        if i > 0 || !out.ends_with("- ") {
            indent(out, level);
        }
        out.push_str("- ");
        match v {
            Value::Object(m) if !m.is_empty() => write_map(out, m, level + 2),
            Value::Array(a) if a.iter().all(is_inline) => {
                out.push_str(&flow(a));
                out.push('\n');
            }
            Value::Array(a) if !a.is_empty() => write_seq(out, a, level + 2),
            other => {
                out.push_str(&scalar(other, level + 2));
                out.push('\n');
            }
        }
    }
}

/// A scalar that fits on one line of a flow sequence.
fn is_inline(v: &Value) -> bool {
    match v {
        Value::String(s) => !s.contains('\n'),
        Value::Array(_) | Value::Object(_) => false,
        _ => true,
    }
}

/// `[a, b, c]`, as cloud-init's docs write `runcmd` entries. Plain scalars
/// never contain the flow indicators `,[]{}` (see [`is_plain`]).
fn flow(items: &[Value]) -> String {
    let words: Vec<String> = items.iter().map(|v| scalar(v, 0)).collect();
    format!("[{}]", words.join(", "))
}

/// Writes what follows `key:`.
fn write_value(out: &mut String, v: &Value, level: usize) {
    match v {
        Value::Object(m) if !m.is_empty() => {
            out.push('\n');
            write_map(out, m, level + 2);
        }
        // Sequences under a key are indented, as cloud-init's docs show.
        Value::Array(a) if !a.is_empty() => {
            out.push('\n');
            write_seq(out, a, level + 2);
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other, level + 2));
            out.push('\n');
        }
    }
}

fn scalar(v: &Value, level: usize) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::String(s) => string(s, level),
        Value::Array(_) => "[]".into(),
        Value::Object(_) => "{}".into(),
    }
}

/// Words YAML 1.1 reads as booleans or null.
const KEYWORDS: &[&str] = &[
    "y", "yes", "n", "no", "on", "off", "true", "false", "null", "~",
];

fn is_plain(s: &str) -> bool {
    let first_ok = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '/');
    first_ok
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_./@+-".contains(c))
        && !KEYWORDS.contains(&s.to_ascii_lowercase().as_str())
}

fn key(k: &str) -> String {
    if is_plain(k) {
        k.to_string()
    } else {
        double_quoted(k)
    }
}

fn is_printable(c: char) -> bool {
    !c.is_control() && !matches!(c, '\u{2028}' | '\u{2029}' | '\u{feff}')
}

fn string(s: &str, level: usize) -> String {
    if is_plain(s) {
        return s.to_string();
    }
    if s.contains('\n') && s.chars().all(|c| c == '\n' || c == '\t' || is_printable(c)) {
        return literal_block(s, level);
    }
    if s.chars().all(is_printable) && !s.contains('\'') {
        return format!("'{s}'");
    }
    double_quoted(s)
}

/// JSON string syntax is valid YAML double-quoted syntax.
fn double_quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_string())
}

/// `|` block: the text verbatim, indented. Chomping keeps the exact number
/// of trailing newlines; an indentation indicator is needed when the first
/// line starts with a space.
fn literal_block(s: &str, level: usize) -> String {
    let body = s.trim_end_matches('\n');
    let trailing = s.len() - body.len();
    let chomp = match trailing {
        0 => "-",
        1 => "",
        _ => "+",
    };
    let width = level.max(2);
    let indicator = if body.starts_with(' ') || body.starts_with('\n') {
        width.to_string()
    } else {
        String::new()
    };
    let mut out = format!("|{indicator}{chomp}");
    let pad = " ".repeat(width);
    for line in body.split('\n') {
        out.push('\n');
        if !line.is_empty() {
            out.push_str(&pad);
            out.push_str(line);
        }
    }
    // Extra trailing newlines beyond the first are kept by `+` as empty lines.
    for _ in 1..trailing {
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn cloud_config_shape() {
        let v = json!({
            "hostname": "rabbitmq-1",
            "packages": ["haproxy", "keepalived"],
            "write_files": [
                {"path": "/etc/x.conf", "permissions": "0644", "content": "a = 1\nb = 2\n"},
                {"path": "/etc/y", "content": "no newline"}
            ],
            "runcmd": [["systemctl", "enable", "--now", "haproxy"]],
            "empty": []
        });
        assert_eq!(
            to_string(&v),
            "hostname: rabbitmq-1\n\
             packages:\n  - haproxy\n  - keepalived\n\
             write_files:\n  - path: /etc/x.conf\n    permissions: '0644'\n    content: |\n      a = 1\n      b = 2\n\
             \x20 - path: /etc/y\n    content: 'no newline'\n\
             runcmd:\n  - [systemctl, enable, '--now', haproxy]\n\
             empty: []\n"
        );
    }

    #[test]
    fn yaml_1_1_traps_are_quoted() {
        for s in [
            "yes",
            "No",
            "on",
            "0644",
            "1:20",
            "2001-12-14",
            "",
            "-x",
            "#x",
            "a: b",
            "~",
            "*x",
            "&x",
            "!x",
            "%x",
            "@x",
        ] {
            assert!(!is_plain(s), "{s:?} must be quoted");
        }
        assert_eq!(string("it's", 0), "\"it's\"");
        assert_eq!(string("a\u{7}", 0), "\"a\\u0007\"");
        assert_eq!(string("a\u{2028}b", 0), "\"a\u{2028}b\"");
    }

    #[test]
    fn literal_blocks_keep_exact_text() {
        assert_eq!(literal_block("x\n", 2), "|\n  x");
        assert_eq!(literal_block("x", 2), "|-\n  x");
        assert_eq!(literal_block("x\n\n", 2), "|+\n  x\n");
        assert_eq!(literal_block(" x\n", 4), "|4\n     x");
        assert_eq!(literal_block("a\n\nb\n", 2), "|\n  a\n\n  b");
    }
}
