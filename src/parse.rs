//! JSON text -> [`Spec`], with diagnostics in the user's terms: a JSON
//! pointer, a line and column, and no Rust type names.

use serde_json::Value;

use crate::diagnostic::{Code, Diagnostic, Diagnostics, Location};
use crate::locate::{escape_token, PointerIndex};
use crate::spec::Spec;

/// Keys whose values are lists in the spec. Anywhere else a JSON array is
/// wrong: serde would otherwise fill a struct from an array by position.
const LIST_KEYS: &[&str] = &[
    "brokers",
    "load_balancers",
    "dns",
    "vhosts",
    "users",
    "tags",
    "permissions",
    "plugins",
    "ssh_authorized_keys",
    "client_cidrs",
    "admin_cidrs",
    "monitoring_cidrs",
];

pub(crate) fn parse(source: &str) -> Result<Spec, Diagnostics> {
    let one = |d: Diagnostic| {
        let mut ds = Diagnostics::new();
        ds.push(d);
        ds
    };
    // Syntax first, so a syntax error is reported as one.
    let value: Value = serde_json::from_str(source).map_err(|e| {
        // The typed parse stops at the same character and knows the path
        // that led there, which the untyped one does not.
        let mut de = serde_json::Deserializer::from_str(source);
        let pointer = match serde_path_to_error::deserialize::<_, Spec>(&mut de) {
            Err(err) if err.inner().classify() == e.classify() => pointer_of(err.path()),
            _ => String::new(),
        };
        one(from_serde(&e, pointer))
    })?;
    if let Some(pointer) = misplaced_array(&value, "", None) {
        let mut d = Diagnostic::error(
            Code::Shape,
            pointer.clone(),
            "expected an object, found a list",
        )
        .hint("write this value as a JSON object ({...}); see schemas/topology.schema.json");
        d.location = PointerIndex::new(source).find(&pointer);
        return Err(one(d));
    }
    // Typed parse from the text (not the Value) so errors keep positions.
    let mut de = serde_json::Deserializer::from_str(source);
    serde_path_to_error::deserialize::<_, Spec>(&mut de).map_err(|err| {
        let pointer = pointer_of(err.path());
        let mut d = from_serde(err.inner(), pointer.clone());
        if err.inner().to_string().starts_with("missing field") {
            // serde reports a missing field at the object's closing brace;
            // the object's start is where a reader looks for it.
            d.location = PointerIndex::new(source).find(&pointer).or(d.location);
        }
        one(d)
    })
}

/// The pointer of the first array that stands where the spec has no list.
fn misplaced_array(value: &Value, pointer: &str, key: Option<&str>) -> Option<String> {
    match value {
        Value::Array(items) => {
            if !key.is_some_and(|k| LIST_KEYS.contains(&k)) {
                return Some(pointer.to_string());
            }
            items
                .iter()
                .enumerate()
                .find_map(|(i, v)| misplaced_array(v, &format!("{pointer}/{i}"), None))
        }
        Value::Object(map) => map.iter().find_map(|(k, v)| {
            misplaced_array(v, &format!("{pointer}/{}", escape_token(k)), Some(k))
        }),
        _ => None,
    }
}

fn from_serde(e: &serde_json::Error, pointer: String) -> Diagnostic {
    use serde_json::error::Category;
    let raw = e.to_string();
    let code = match e.classify() {
        // PEM where the spec wants a reference: say so without repeating
        // the text, which may be a private key.
        Category::Data if raw.contains("-----BEGIN") || raw.contains("PRIVATE KEY") => {
            Code::TlsInline
        }
        Category::Data if raw.contains("SecretSource") && !raw.contains("invalid type: null") => {
            if raw.starts_with("invalid type") {
                Code::InlineSecret
            } else {
                Code::Shape
            }
        }
        Category::Data => Code::Shape,
        _ => Code::Syntax,
    };
    let (message, hint) = match code {
        Code::InlineSecret => (
            "a secret is written inline; rmqgen only accepts a secret source".to_string(),
            "secrets are never inline: use {\"from\": \"terraform-random\"}, {\"from\": \"file\", \"path\": ...} or {\"from\": \"variable\", \"name\": ...}",
        ),
        Code::TlsInline => (
            "PEM text (a certificate or key) is written where the spec takes a reference".to_string(),
            "give a reference instead: {\"from\": \"file\", \"path\": \"tls/{host}.key\"}, {\"from\": \"variable\", \"name\": ...} or {\"from\": \"host\", \"path\": ...}",
        ),
        Code::Shape if raw.starts_with("missing field") => (
            user_terms(&strip_position(&raw)),
            "add the field; schemas/topology.schema.json lists what each object needs",
        ),
        Code::Shape => (
            user_terms(&strip_position(&raw)),
            "check the field name and type against schemas/topology.schema.json",
        ),
        _ => (strip_position(&raw), "fix the JSON syntax at this position"),
    };
    let mut d = Diagnostic::error(code, pointer, message).hint(hint);
    if e.line() > 0 {
        d.location = Some(Location {
            line: e.line(),
            // serde_json counts a position before the first character as 0.
            column: e.column().max(1),
        });
    }
    d
}

/// serde_json appends " at line L column C"; the location has its own field.
fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

/// Rewrites serde's Rust type names into what the user writes in JSON.
fn user_terms(msg: &str) -> String {
    let mut out = msg
        .replace(
            "internally tagged enum SecretSource",
            "a secret source object ({\"from\": ...})",
        )
        .replace(
            "internally tagged enum TrackMode",
            "a track object ({\"mode\": ...})",
        )
        .replace("a sequence", "a list");
    for (rust, json) in [
        ("u8", "a whole number from 0 to 255"),
        ("u16", "a whole number from 0 to 65535"),
        ("u32", "a whole number from 0 to 4294967295"),
        ("u64", "a non-negative whole number"),
        ("i32", "a whole number"),
        ("i64", "a whole number"),
    ] {
        out = out.replace(&format!("expected {rust}"), &format!("expected {json}"));
    }
    // "struct Network" / "enum Provider": the name means nothing in JSON.
    for (word, json) in [
        ("struct ", "an object"),
        ("enum ", "one of the documented values"),
    ] {
        while let Some(i) = out.find(word) {
            let rest = &out[i + word.len()..];
            let end = rest
                .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
                .unwrap_or(rest.len());
            if end == 0 {
                break;
            }
            let start = if out[..i].ends_with("a ") { i - 2 } else { i };
            out = format!("{}{json}{}", &out[..start], &rest[end..]);
        }
    }
    out
}

fn pointer_of(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for seg in path.iter() {
        match seg {
            Segment::Seq { index } => out.push_str(&format!("/{index}")),
            Segment::Map { key } => {
                out.push('/');
                out.push_str(&escape_token(key));
            }
            Segment::Enum { .. } | Segment::Unknown => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rust_type_names_become_json_terms() {
        assert_eq!(
            user_terms("invalid type: string \"x\", expected u32"),
            "invalid type: string \"x\", expected a whole number from 0 to 4294967295"
        );
        assert_eq!(
            user_terms("invalid type: integer `1`, expected struct Network"),
            "invalid type: integer `1`, expected an object"
        );
    }

    #[test]
    fn arrays_only_where_the_spec_has_lists() {
        let v: Value = serde_json::from_str(r#"{"brokers": [{"a": 1}], "network": [1]}"#).unwrap();
        assert_eq!(misplaced_array(&v, "", None).as_deref(), Some("/network"));
        let v: Value = serde_json::from_str(r#"{"brokers": [[1]]}"#).unwrap();
        assert_eq!(misplaced_array(&v, "", None).as_deref(), Some("/brokers/0"));
        let v: Value = serde_json::from_str("[]").unwrap();
        assert_eq!(misplaced_array(&v, "", None).as_deref(), Some(""));
    }
}
