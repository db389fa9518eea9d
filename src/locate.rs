//! Maps JSON pointers to line/column positions in the spec's source text.
//!
//! serde_json reports positions only for syntax errors; validation works on
//! typed values. This small scanner walks an already-valid JSON text once and
//! records where every value starts, so a diagnostic at `/brokers/2/address`
//! can say "line 14, column 18". It never fails: on input it does not
//! understand it simply records less.

use std::collections::BTreeMap;

use crate::diagnostic::Location;

/// Start position of every value in a JSON document, by JSON pointer.
pub(crate) struct PointerIndex {
    positions: BTreeMap<String, Location>,
}

impl PointerIndex {
    pub(crate) fn new(source: &str) -> Self {
        let mut scanner = Scanner {
            bytes: source.as_bytes(),
            pos: 0,
            line: 1,
            column: 1,
            positions: BTreeMap::new(),
            depth: 0,
        };
        scanner.value(String::new());
        Self {
            positions: scanner.positions,
        }
    }

    /// The position of the value at `pointer`, or of its nearest recorded
    /// ancestor (a missing field is reported at the object that lacks it).
    pub(crate) fn find(&self, pointer: &str) -> Option<Location> {
        let mut p = pointer;
        loop {
            if let Some(loc) = self.positions.get(p) {
                return Some(*loc);
            }
            match p.rfind('/') {
                Some(i) => p = &p[..i],
                None => return None,
            }
        }
    }
}

/// Escapes one reference token (RFC 6901).
pub(crate) fn escape_token(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

struct Scanner<'a> {
    bytes: &'a [u8],
    pos: usize,
    line: usize,
    column: usize,
    positions: BTreeMap<String, Location>,
    depth: usize,
}

/// Nesting deeper than this is not indexed (specs are shallow; this bounds
/// recursion on hostile input).
const MAX_DEPTH: usize = 64;

impl Scanner<'_> {
    fn peek(&self) -> Option<u8> {
        self.bytes.get(self.pos).copied()
    }

    fn bump(&mut self) {
        if let Some(&b) = self.bytes.get(self.pos) {
            self.pos += 1;
            if b == b'\n' {
                self.line += 1;
                self.column = 1;
            } else if b & 0xC0 != 0x80 {
                // Count characters, not UTF-8 continuation bytes.
                self.column += 1;
            }
        }
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.bump();
        }
    }

    fn value(&mut self, pointer: String) {
        self.skip_ws();
        if self.depth > MAX_DEPTH {
            return;
        }
        self.positions.insert(
            pointer.clone(),
            Location {
                line: self.line,
                column: self.column,
            },
        );
        match self.peek() {
            Some(b'{') => {
                self.depth += 1;
                self.object(&pointer);
                self.depth -= 1;
            }
            Some(b'[') => {
                self.depth += 1;
                self.array(&pointer);
                self.depth -= 1;
            }
            Some(b'"') => {
                self.string();
            }
            Some(_) => {
                while let Some(b) = self.peek() {
                    if matches!(b, b',' | b'}' | b']' | b' ' | b'\t' | b'\n' | b'\r') {
                        break;
                    }
                    self.bump();
                }
            }
            None => {}
        }
    }

    fn object(&mut self, pointer: &str) {
        self.bump(); // {
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b'}') => {
                    self.bump();
                    return;
                }
                Some(b',') => self.bump(),
                Some(b'"') => {
                    let key = self.string();
                    self.skip_ws();
                    if self.peek() != Some(b':') {
                        return;
                    }
                    self.bump();
                    self.value(format!("{pointer}/{}", escape_token(&key)));
                }
                _ => return,
            }
        }
    }

    fn array(&mut self, pointer: &str) {
        self.bump(); // [
        let mut index = 0usize;
        loop {
            self.skip_ws();
            match self.peek() {
                Some(b']') => {
                    self.bump();
                    return;
                }
                Some(b',') => self.bump(),
                Some(_) => {
                    let before = self.pos;
                    self.value(format!("{pointer}/{index}"));
                    index += 1;
                    if self.pos == before {
                        return;
                    }
                }
                None => return,
            }
        }
    }

    /// Reads a string literal and returns its decoded value (escapes other
    /// than the common ones are kept verbatim: keys in specs are ASCII).
    fn string(&mut self) -> String {
        self.bump(); // opening quote
        let start = self.pos;
        let mut raw_escape = false;
        while let Some(b) = self.peek() {
            match b {
                b'\\' => {
                    raw_escape = true;
                    self.bump();
                    self.bump();
                }
                b'"' => break,
                _ => self.bump(),
            }
        }
        let raw = &self.bytes[start..self.pos.min(self.bytes.len())];
        self.bump(); // closing quote
        let text = String::from_utf8_lossy(raw).into_owned();
        if raw_escape {
            serde_json::from_str::<String>(&format!("\"{text}\"")).unwrap_or(text)
        } else {
            text
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_nested_values_and_falls_back_to_the_parent() {
        let src = "{\n  \"a\": [1, {\"b\": \"x\"}],\n  \"c/d\": true\n}";
        let idx = PointerIndex::new(src);
        assert_eq!(idx.find(""), Some(Location { line: 1, column: 1 }));
        assert_eq!(
            idx.find("/a/1/b"),
            Some(Location {
                line: 2,
                column: 18
            })
        );
        assert_eq!(
            idx.find("/c~1d"),
            Some(Location {
                line: 3,
                column: 10
            })
        );
        // Missing field: reported at the object that lacks it.
        assert_eq!(
            idx.find("/a/1/zzz"),
            Some(Location {
                line: 2,
                column: 12
            })
        );
    }

    #[test]
    fn never_panics_on_truncated_input() {
        for src in ["", "{", "{\"a\"", "[1,", "\"abc", "{\"a\":\"\\", "[[[[["] {
            let _ = PointerIndex::new(src).find("/a/0");
        }
    }
}
