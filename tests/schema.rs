//! The committed JSON Schema is exactly what the Rust types generate, and it
//! agrees with the parser on every spec in the repository.
//!
//! There is no JSON Schema validator among the dependencies; [`conforms`] is
//! a small checker for exactly the keywords schemars emits here (`$ref`,
//! `type`, `properties`, `required`, `additionalProperties`, `items`,
//! `anyOf`, `oneOf`, `const`, `enum`, `minimum`, `format`). A test fails if
//! the schema starts using any other keyword, so the checker cannot silently
//! fall behind.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

const SCHEMA_FILE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/topology.schema.json");

fn committed() -> String {
    std::fs::read_to_string(SCHEMA_FILE).expect("schemas/topology.schema.json exists")
}

fn schema() -> Value {
    serde_json::from_str(&committed()).expect("the schema is JSON")
}

#[test]
fn committed_schema_matches_the_types() {
    let generated = rmqgen::schema();
    if committed() != generated {
        panic!(
            "schemas/topology.schema.json is out of date with the Rust types in src/spec/.\n\
             Regenerate it with:\n\n    cargo run -- schema > schemas/topology.schema.json\n"
        );
    }
}

fn json_files(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut out: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    out.sort();
    out
}

fn read_json(path: &Path) -> Option<Value> {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).ok()
}

#[test]
fn example_top_level_keys_are_schema_properties() {
    let schema = schema();
    let properties = schema["properties"].as_object().unwrap();
    let required: Vec<&str> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    for path in json_files("examples") {
        let example = read_json(&path).unwrap();
        let keys = example.as_object().unwrap();
        for key in keys.keys() {
            assert!(
                properties.contains_key(key),
                "{}: top-level key {key:?} is not in the schema",
                path.display()
            );
        }
        for key in &required {
            assert!(
                keys.contains_key(*key),
                "{}: lacks the required key {key:?}",
                path.display()
            );
        }
    }
}

/// Every example and fixture that parses conforms to the schema, and every
/// fixture that the parser rejects for its shape (unknown field, wrong type,
/// missing field, inline secret) the schema rejects too.
#[test]
fn schema_and_parser_agree_on_every_spec() {
    let schema = schema();
    let mut checked = 0;
    for dir in ["examples", "tests/invalid", "tests/warnings"] {
        for path in json_files(dir) {
            let Some(doc) = read_json(&path) else {
                continue; // not JSON at all (malformed.json)
            };
            let source = std::fs::read_to_string(&path).unwrap();
            let parsed = rmqgen::parse(&source).is_ok();
            let mut errors = Vec::new();
            conforms(&schema, &schema, &doc, "", &mut errors);
            assert_eq!(
                parsed,
                errors.is_empty(),
                "{}: the parser {} it, the schema {}",
                path.display(),
                if parsed { "accepts" } else { "rejects" },
                if errors.is_empty() {
                    "accepts it".to_string()
                } else {
                    format!("rejects it:\n  {}", errors.join("\n  "))
                }
            );
            checked += 1;
        }
    }
    assert!(checked > 40, "only {checked} specs checked");
}

/// The schema is usable by editors: draft 2020-12, a title, every `$ref`
/// resolves, every object schema closes `additionalProperties` (the spec
/// denies unknown fields everywhere), and it only uses keywords the
/// checker here understands.
#[test]
fn schema_is_closed_and_self_contained() {
    let schema = schema();
    assert_eq!(
        schema["$schema"],
        "https://json-schema.org/draft/2020-12/schema"
    );
    assert!(schema["title"].is_string());
    let mut problems = Vec::new();
    walk_schema(&schema, &schema, "", &mut problems);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

const KNOWN_KEYWORDS: &[&str] = &[
    "$schema",
    "$defs",
    "$ref",
    "title",
    "description",
    "type",
    "properties",
    "required",
    "additionalProperties",
    "items",
    "anyOf",
    "oneOf",
    "const",
    "enum",
    "minimum",
    "maximum",
    "format",
    "default",
];

fn walk_schema(root: &Value, node: &Value, at: &str, problems: &mut Vec<String>) {
    let Value::Object(m) = node else { return };
    for (k, v) in m {
        match k.as_str() {
            "properties" | "$defs" => {
                for (name, sub) in v.as_object().unwrap() {
                    walk_schema(root, sub, &format!("{at}/{k}/{name}"), problems);
                }
            }
            "$ref" if resolve(root, v.as_str().unwrap()).is_none() => {
                problems.push(format!("{at}: $ref {v} does not resolve"));
            }
            "items" => walk_schema(root, v, &format!("{at}/items"), problems),
            "anyOf" | "oneOf" => {
                for (i, sub) in v.as_array().unwrap().iter().enumerate() {
                    walk_schema(root, sub, &format!("{at}/{k}/{i}"), problems);
                }
            }
            other if !KNOWN_KEYWORDS.contains(&other) => problems.push(format!(
                "{at}: keyword {other:?} is not checked by conforms()"
            )),
            _ => {}
        }
    }
    if m.contains_key("properties") && m.get("additionalProperties") != Some(&Value::Bool(false)) {
        problems.push(format!("{at}: object schema allows unknown fields"));
    }
}

fn resolve<'a>(root: &'a Value, reference: &str) -> Option<&'a Value> {
    root.pointer(reference.strip_prefix('#')?)
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// Appends to `errors` every way `value` (at `at`) breaks `node`.
fn conforms(root: &Value, node: &Value, value: &Value, at: &str, errors: &mut Vec<String>) {
    let Value::Object(s) = node else { return };
    if let Some(r) = s.get("$ref").and_then(Value::as_str) {
        match resolve(root, r) {
            Some(target) => conforms(root, target, value, at, errors),
            None => errors.push(format!("{at}: unresolved {r}")),
        }
    }
    for (key, exactly_one) in [("anyOf", false), ("oneOf", true)] {
        if let Some(branches) = s.get(key).and_then(Value::as_array) {
            let matching = branches
                .iter()
                .filter(|b| {
                    let mut e = Vec::new();
                    conforms(root, b, value, at, &mut e);
                    e.is_empty()
                })
                .count();
            if matching == 0 || (exactly_one && matching > 1) {
                errors.push(format!(
                    "{at}: {value} matches {matching} branches of {key}"
                ));
            }
        }
    }
    if let Some(t) = s.get("type") {
        let allowed: Vec<&str> = match t {
            Value::String(t) => vec![t.as_str()],
            Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let actual = type_name(value);
        let ok = allowed
            .iter()
            .any(|t| *t == actual || (*t == "number" && actual == "integer"));
        if !ok {
            errors.push(format!("{at}: {actual} where {allowed:?} is expected"));
            return;
        }
    }
    if let Some(c) = s.get("const") {
        if c != value {
            errors.push(format!("{at}: {value} is not {c}"));
        }
    }
    if let Some(Value::Array(options)) = s.get("enum") {
        if !options.contains(value) {
            errors.push(format!("{at}: {value} is not one of {options:?}"));
        }
    }
    if let Some(n) = value.as_f64() {
        if let Some(min) = s.get("minimum").and_then(Value::as_f64) {
            if n < min {
                errors.push(format!("{at}: {n} < {min}"));
            }
        }
        if let Some(max) = s.get("maximum").and_then(Value::as_f64) {
            if n > max {
                errors.push(format!("{at}: {n} > {max}"));
            }
        }
        let range = match s.get("format").and_then(Value::as_str) {
            Some("uint32") => Some((0.0, f64::from(u32::MAX))),
            Some("int32") => Some((f64::from(i32::MIN), f64::from(i32::MAX))),
            _ => None,
        };
        if let Some((lo, hi)) = range {
            if n < lo || n > hi {
                errors.push(format!("{at}: {n} is outside {lo}..={hi}"));
            }
        }
    }
    if let Value::Object(obj) = value {
        let empty = Map::new();
        let props = s
            .get("properties")
            .and_then(Value::as_object)
            .unwrap_or(&empty);
        for (k, v) in obj {
            match props.get(k) {
                Some(p) => conforms(root, p, v, &format!("{at}/{k}"), errors),
                None if s.get("additionalProperties") == Some(&Value::Bool(false)) => {
                    errors.push(format!("{at}: unknown property {k:?}"))
                }
                None => {}
            }
        }
        let required: BTreeSet<&str> = s
            .get("required")
            .and_then(Value::as_array)
            .map(|r| r.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        for r in required {
            if !obj.contains_key(r) {
                errors.push(format!("{at}: missing required property {r:?}"));
            }
        }
    }
    if let (Value::Array(items), Some(item_schema)) = (value, s.get("items")) {
        for (i, v) in items.iter().enumerate() {
            conforms(root, item_schema, v, &format!("{at}/{i}"), errors);
        }
    }
}

/// The checker itself: it accepts a valid document and names what is wrong
/// with broken ones.
#[test]
fn conforms_catches_shape_errors() {
    let schema = schema();
    let good: Value = serde_json::from_str(&rmqgen::reference_spec()).unwrap();
    let mut errors = Vec::new();
    conforms(&schema, &schema, &good, "", &mut errors);
    assert!(errors.is_empty(), "{errors:?}");

    for (pointer, bad) in [
        ("/keepalived/virtual_router_id", Value::from("74")),
        ("/keepalived/virtual_router_id", Value::from(-1)),
        ("/rabbitmq/queue_ha/mode", Value::from("mirrored")),
        ("/rabbitmq/users/0/password", Value::from("123456")),
        ("/brokers/0", serde_json::json!({ "name": "x" })),
        ("/haproxy", serde_json::json!({ "nbproc": 20 })),
    ] {
        let mut doc = good.clone();
        *doc.pointer_mut(pointer).unwrap() = bad.clone();
        let mut errors = Vec::new();
        conforms(&schema, &schema, &doc, "", &mut errors);
        assert!(!errors.is_empty(), "{pointer} = {bad} passed the schema");
        assert!(
            rmqgen::parse(&doc.to_string()).is_err(),
            "{pointer} = {bad}"
        );
    }
}
