//! Nix expressions: a small value model printed in nixfmt's style, and
//! [`string`], the one function through which every text reaches a Nix
//! file.
//!
//! Values are data (strings, numbers, lists, attribute sets) plus two
//! narrow escapes: applying a fixed library function (`lib.mkDefault`) and a
//! fixed expression. Both take `&'static str`, so only rmqgen's own code, never a
//! spec value, can put an expression into a file.

use std::fmt::Write as _;

// For `Value::to_json`, which only the tests use.
#[cfg(feature = "testing")]
use serde_json::{Map, Value as Json};

/// A Nix value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// `null`.
    Null,
    /// `true` / `false`.
    Bool(bool),
    /// An integer.
    Int(i64),
    /// A string, escaped by [`string`] when printed.
    Str(String),
    /// A list.
    List(Vec<Value>),
    /// An attribute set, in this order.
    Attrs(Vec<Entry>),
    /// `FUNCTION VALUE`, e.g. `lib.mkDefault "x"`. The function is
    /// rmqgen's, never a spec value.
    Apply(&'static str, Box<Value>),
    /// A fixed expression written by rmqgen (a path such as `./common.nix`).
    Expr(&'static str),
}

/// An attribute path: one segment or more (an empty path cannot be
/// built); each segment is printed bare when it is an identifier, quoted
/// otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath(Vec<String>);

impl AttrPath {
    /// The path `first.rest...`.
    pub fn new(first: impl Into<String>, rest: impl IntoIterator<Item = String>) -> Self {
        Self(std::iter::once(first.into()).chain(rest).collect())
    }

    /// The segments, never empty.
    pub fn segments(&self) -> &[String] {
        &self.0
    }
}

/// One `key.path = value;` line of an attribute set.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    /// Attribute path.
    pub path: AttrPath,
    /// The value.
    pub value: Value,
    /// A comment line above the entry (rmqgen's text, not a spec value).
    pub comment: Option<&'static str>,
}

impl Entry {
    /// `path = value;`, the path given as `a.b.c` (segments that need
    /// quoting must be built with [`Entry::segments`]).
    pub fn new(path: &str, value: impl Into<Value>) -> Self {
        let (first, rest) = path.split_once('.').unwrap_or((path, ""));
        let rest = rest.split('.').filter(|_| !rest.is_empty());
        Self::segments(AttrPath::new(first, rest.map(str::to_string)), value)
    }

    /// `path = value;` from explicit segments (any text).
    pub fn segments(path: AttrPath, value: impl Into<Value>) -> Self {
        Self {
            path,
            value: value.into(),
            comment: None,
        }
    }

    /// Adds a comment line above the entry.
    #[must_use]
    pub fn comment(mut self, comment: &'static str) -> Self {
        self.comment = Some(comment);
        self
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Str(s.to_string())
    }
}

impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Str(s)
    }
}

impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}

impl From<u32> for Value {
    fn from(n: u32) -> Self {
        Value::Int(i64::from(n))
    }
}

impl From<i32> for Value {
    fn from(n: i32) -> Self {
        Value::Int(i64::from(n))
    }
}

impl From<Vec<Value>> for Value {
    fn from(v: Vec<Value>) -> Self {
        Value::List(v)
    }
}

impl From<Vec<Entry>> for Value {
    fn from(v: Vec<Entry>) -> Self {
        Value::Attrs(v)
    }
}

impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(v: Option<T>) -> Self {
        v.map_or(Value::Null, Into::into)
    }
}

/// A list of strings.
pub fn strings<S: ToString>(items: impl IntoIterator<Item = S>) -> Value {
    Value::List(
        items
            .into_iter()
            .map(|s| Value::Str(s.to_string()))
            .collect(),
    )
}

impl Value {
    /// `lib.mkDefault VALUE`: a setting another module may override.
    pub fn default_priority(self) -> Value {
        Value::Apply("lib.mkDefault", Box::new(self))
    }

    /// The value as JSON, the way `nix-instantiate --eval --json` prints it
    /// when `lib.mkDefault`/`lib.mkForce` are the identity (tests compare
    /// the two). Dotted paths become nested objects; a fixed expression
    /// becomes the string of its text. For the tests only (the `testing`
    /// feature).
    #[cfg(feature = "testing")]
    pub fn to_json(&self) -> Json {
        match self {
            Value::Null => Json::Null,
            Value::Bool(b) => Json::Bool(*b),
            Value::Int(n) => Json::from(*n),
            Value::Str(s) => Json::String(s.clone()),
            Value::List(items) => Json::Array(items.iter().map(Value::to_json).collect()),
            Value::Attrs(entries) => {
                let mut root = Map::new();
                for e in entries {
                    insert_path(&mut root, e.path.segments(), e.value.to_json());
                }
                Json::Object(root)
            }
            Value::Apply(_, v) => v.to_json(),
            Value::Expr(e) => Json::String((*e).to_string()),
        }
    }

    /// Prints the value at `indent` spaces, in nixfmt's layout: one
    /// attribute or list item per line, two spaces per level.
    pub fn print(&self, indent: usize) -> String {
        let mut out = String::new();
        self.write(&mut out, indent);
        out
    }

    fn write(&self, out: &mut String, indent: usize) {
        let pad = " ".repeat(indent + 2);
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(n) => {
                // A negative literal is `-` applied to a number: fine
                // anywhere a value stands, but parenthesised in a list.
                let _ = write!(out, "{n}");
            }
            Value::Str(s) => out.push_str(&string(s, indent)),
            Value::List(items) if items.is_empty() => out.push_str("[ ]"),
            Value::List(items) if items.len() == 1 && items[0].is_inline() => {
                out.push_str("[ ");
                items[0].write_item(out, indent);
                out.push_str(" ]");
            }
            Value::List(items) => {
                out.push_str("[\n");
                for item in items {
                    out.push_str(&pad);
                    item.write_item(out, indent + 2);
                    out.push('\n');
                }
                out.push_str(&" ".repeat(indent));
                out.push(']');
            }
            Value::Attrs(entries) if entries.is_empty() => out.push_str("{ }"),
            Value::Attrs(entries) => {
                out.push_str("{\n");
                for e in entries {
                    if let Some(c) = e.comment {
                        for line in c.lines() {
                            let _ = writeln!(out, "{pad}# {line}");
                        }
                    }
                    out.push_str(&pad);
                    out.push_str(&attr_path(&e.path));
                    out.push_str(" = ");
                    e.value.write(out, indent + 2);
                    out.push_str(";\n");
                }
                out.push_str(&" ".repeat(indent));
                out.push('}');
            }
            Value::Apply(f, v) => {
                out.push_str(f);
                out.push(' ');
                v.write_item(out, indent);
            }
            Value::Expr(e) => out.push_str(e),
        }
    }

    /// Writes the value where a list item (or a function argument) stands:
    /// applications and negative numbers need parentheses there.
    fn write_item(&self, out: &mut String, indent: usize) {
        match self {
            Value::Apply(..) => {
                out.push('(');
                self.write(out, indent);
                out.push(')');
            }
            Value::Int(n) if *n < 0 => {
                let _ = write!(out, "({n})");
            }
            _ => self.write(out, indent),
        }
    }

    fn is_inline(&self) -> bool {
        match self {
            Value::Str(s) => !s.contains('\n'),
            Value::List(l) => l.is_empty(),
            Value::Attrs(a) => a.is_empty(),
            Value::Apply(_, v) => v.is_inline(),
            _ => true,
        }
    }
}

#[cfg(feature = "testing")]
fn insert_path(root: &mut Map<String, Json>, path: &[String], value: Json) {
    match path {
        [] => {}
        [last] => {
            root.insert(last.clone(), value);
        }
        [first, rest @ ..] => {
            let entry = root
                .entry(first.clone())
                .or_insert_with(|| Json::Object(Map::new()));
            if !entry.is_object() {
                *entry = Json::Object(Map::new());
            }
            if let Json::Object(m) = entry {
                insert_path(m, rest, value);
            }
        }
    }
}

/// Nix keywords, which cannot be bare attribute names.
const KEYWORDS: &[&str] = &[
    "assert", "else", "if", "in", "inherit", "let", "or", "rec", "then", "with",
];

/// True when `s` can be written as a bare attribute name.
pub fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || "_'-".contains(c))
        && !KEYWORDS.contains(&s)
}

/// An attribute path: identifiers bare, anything else as a quoted string.
pub fn attr_path(path: &AttrPath) -> String {
    let segments: Vec<String> = path
        .segments()
        .iter()
        .map(|s| {
            if is_identifier(s) {
                s.clone()
            } else {
                quoted(s)
            }
        })
        .collect();
    segments.join(".")
}

/// The Nix literal for the text `s`, for a value printed at `indent`
/// spaces. Every text that reaches a Nix file goes through here.
///
/// Multi-line text that ends with a newline, starts some line without a
/// space (so Nix's indentation stripping removes exactly what is added
/// here) and has no control character but tab becomes an indented string
/// (`''...''`), with `''` written `'''` and `${` written `''${`. Anything
/// else becomes a double-quoted string with `"`, `\` and `${` escaped and
/// line breaks written `\n`.
///
/// Nix strings cannot hold NUL (no escape writes one). None reaches here
/// from a validated plan: every spec value that lands in a Nix file is held
/// to a character set without control characters by validation (names,
/// addresses, vhosts, users, regexes, the stats page, SSH keys: see
/// `validate::charset`), which `tests/injection.rs` checks by writing NUL
/// into every free-text field of a NixOS spec. So this is total instead of
/// fallible: a NUL that still arrives (text built in code, a plan changed
/// after validation) is written as U+FFFD, never as a shorter string.
pub fn string(s: &str, indent: usize) -> String {
    if fits_indented(s) {
        indented(s, indent)
    } else {
        quoted(s)
    }
}

/// `"..."` with `"`, `\`, `${` and control characters escaped; NUL, which
/// Nix strings cannot hold, as U+FFFD (see [`string`]).
pub fn quoted(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '$' if chars.peek() == Some(&'{') => out.push_str("\\$"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push(char::REPLACEMENT_CHARACTER),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn fits_indented(s: &str) -> bool {
    s.contains('\n')
        && s.ends_with('\n')
        && s.chars().all(|c| c == '\n' || c == '\t' || !c.is_control())
        && s.lines().any(|l| !l.is_empty() && !l.starts_with(' '))
}

/// `''`, the text indented by `indent + 2` spaces, then `''` on a line of
/// its own at `indent`. Nix drops the first (empty) line and the common
/// indentation, and the last line of spaces, which gives back the text.
fn indented(s: &str, indent: usize) -> String {
    let pad = " ".repeat(indent + 2);
    let body = escape_indented(s);
    let mut out = String::from("''\n");
    for line in body.split_inclusive('\n') {
        if line != "\n" {
            out.push_str(&pad);
        }
        out.push_str(line);
    }
    out.push_str(&" ".repeat(indent));
    out.push_str("''");
    out
}

/// Escapes text for the inside of an indented string: `''` -> `'''`,
/// `${` -> `''${`, and a lone `'` that would touch one of those (or the
/// closing `''`) -> `''\'`.
fn escape_indented(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let starts_interpolation =
        |i: usize| chars.get(i) == Some(&'$') && chars.get(i + 1) == Some(&'{');
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            '\'' => {
                let start = i;
                while chars.get(i) == Some(&'\'') {
                    i += 1;
                }
                let run = i - start;
                for _ in 0..run / 2 {
                    out.push_str("'''");
                }
                if run % 2 == 1 {
                    if i == chars.len() || starts_interpolation(i) {
                        out.push_str("''\\'");
                    } else {
                        out.push('\'');
                    }
                }
            }
            '$' if starts_interpolation(i) => {
                out.push_str("''${");
                i += 2;
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader for the strings [`string`] writes, following the rules of
    /// Nix's lexer for `"..."` and `''...''` (including indentation
    /// stripping), so hostile texts can be checked to come back unchanged
    /// without a Nix installation. `tests/nix_tools.rs` checks the same
    /// texts with the real `nix-instantiate`.
    fn read(lit: &str) -> String {
        if let Some(body) = lit.strip_prefix('"') {
            let body = body.strip_suffix('"').expect("closing quote");
            let mut out = String::new();
            let mut chars = body.chars().peekable();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => match chars.next().expect("escape") {
                        'n' => out.push('\n'),
                        'r' => out.push('\r'),
                        't' => out.push('\t'),
                        other => out.push(other),
                    },
                    '$' if chars.peek() == Some(&'{') => panic!("interpolation in {lit:?}"),
                    '"' => panic!("unescaped quote in {lit:?}"),
                    c => out.push(c),
                }
            }
            return out;
        }
        let body = lit
            .strip_prefix("''")
            .and_then(|b| b.strip_suffix("''"))
            .expect("indented string");
        // Lex into (text, literal?) pieces: escapes are not indentation.
        let chars: Vec<char> = body.chars().collect();
        let mut pieces: Vec<(String, bool)> = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let rest: String = chars[i..].iter().take(3).collect();
            if rest.starts_with("'''") {
                pieces.push(("''".into(), true));
                i += 3;
            } else if rest.starts_with("''$") {
                pieces.push(("$".into(), true));
                i += 3;
            } else if rest.starts_with("''\\") {
                let c = chars[i + 3];
                let s = match c {
                    'n' => "\n".to_string(),
                    'r' => "\r".to_string(),
                    't' => "\t".to_string(),
                    c => c.to_string(),
                };
                pieces.push((s, true));
                i += 4;
            } else if rest.starts_with("''") {
                panic!("string ends early in {lit:?}");
            } else if rest.starts_with("${") {
                panic!("interpolation in {lit:?}");
            } else {
                pieces.push((chars[i].to_string(), false));
                i += 1;
            }
        }
        // Indentation: spaces at line starts in unescaped text.
        let mut text = String::new();
        let mut lines: Vec<Vec<(String, bool)>> = vec![Vec::new()];
        for (s, lit) in pieces {
            if s == "\n" && !lit {
                lines.last_mut().unwrap().push((s, lit));
                lines.push(Vec::new());
            } else {
                lines.last_mut().unwrap().push((s, lit));
            }
        }
        let indent_of = |l: &Vec<(String, bool)>| -> Option<usize> {
            let mut n = 0;
            for (s, lit) in l {
                if !lit && s == " " {
                    n += 1;
                } else if !lit && s == "\n" {
                    return None;
                } else {
                    return Some(n);
                }
            }
            None
        };
        let min = lines.iter().filter_map(indent_of).min().unwrap_or(0);
        let last = lines.len() - 1;
        for (n, l) in lines.iter().enumerate() {
            let joined: String = l.iter().map(|(s, _)| s.as_str()).collect();
            if n == 0 && joined.trim_matches(' ') == "\n" {
                continue;
            }
            if n == last && joined.chars().all(|c| c == ' ') && l.iter().all(|(_, lit)| !lit) {
                continue;
            }
            let mut skipped = 0;
            for (s, lit) in l {
                if skipped < min && !lit && s == " " {
                    skipped += 1;
                    continue;
                }
                skipped = min;
                text.push_str(s);
            }
        }
        text
    }

    // The texts `tests/nix_tools.rs` evaluates with Nix.
    use crate::render::nix_hostile::HOSTILE;

    #[test]
    fn hostile_texts_read_back_unchanged() {
        for s in HOSTILE {
            for indent in [0, 2, 6] {
                let lit = string(s, indent);
                assert_eq!(&read(&lit), s, "{s:?} as {lit}");
            }
            let lit = quoted(s);
            assert_eq!(&read(&lit), s, "{s:?} as {lit}");
        }
    }

    #[test]
    fn escapes_are_the_documented_ones() {
        assert_eq!(quoted("a\"b\\c${d}$e"), r#""a\"b\\c\${d}$e""#);
        assert_eq!(quoted("x\ny"), r#""x\ny""#);
        assert_eq!(escape_indented("a''b${c}$d"), "a'''b''${c}$d");
        assert_eq!(escape_indented("'${x}"), "''\\'''${x}");
        assert_eq!(escape_indented("x'"), "x''\\'");
        assert_eq!(string("a\n  b\n", 2), "''\n    a\n      b\n  ''");
        // Text whose every line is indented would lose indentation to
        // Nix's stripping: it is written as a quoted string instead.
        assert_eq!(string("  a\n", 0), r#""  a\n""#);
        // Nix has no NUL; validation keeps it out, and text that still
        // holds one is written with U+FFFD in its place.
        assert_eq!(string("nul\0", 0), "\"nul\u{fffd}\"");
    }

    #[test]
    fn attribute_names() {
        assert_eq!(
            attr_path(&AttrPath::new(
                "networking",
                ["hosts".into(), "10.0.0.1".into()]
            )),
            r#"networking.hosts."10.0.0.1""#
        );
        assert_eq!(
            attr_path(&AttrPath::new("a-b", ["if".into(), "${x}".into()])),
            r#"a-b."if"."\${x}""#
        );
        assert!(is_identifier("rabbitmq-1"));
        assert!(!is_identifier("1host"));
        assert!(!is_identifier("or"));
    }

    #[test]
    fn layout_is_nixfmt_like() {
        let v = Value::Attrs(vec![
            Entry::new("a.b", 1u32),
            Entry::new("list", strings(["x", "y"])),
            Entry::new("one", strings(["x"])),
            Entry::new("empty", Value::List(vec![])),
            Entry::new("neg", -3i32).comment("a comment"),
            Entry::new("d", Value::from("v").default_priority()),
            Entry::segments(
                AttrPath::new("127.0.0.2", []),
                Value::Apply("lib.mkForce", Box::new(Value::List(vec![]))),
            ),
        ]);
        assert_eq!(
            v.print(0),
            "{\n  a.b = 1;\n  list = [\n    \"x\"\n    \"y\"\n  ];\n  one = [ \"x\" ];\n  empty = [ ];\n  # a comment\n  neg = -3;\n  d = lib.mkDefault \"v\";\n  \"127.0.0.2\" = lib.mkForce [ ];\n}"
        );
        assert_eq!(
            Value::List(vec![Value::Int(-1), Value::from("a").default_priority()]).print(0),
            "[\n  (-1)\n  (lib.mkDefault \"a\")\n]"
        );
    }
}
