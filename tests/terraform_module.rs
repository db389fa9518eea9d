//! The Terraform root module, checked without Terraform: every example, as
//! a cloud-init and as a NixOS cluster, each with its own provider and with
//! the provider switched (libvirt <-> proxmox), renders a module that
//!
//! - parses (hcl-rs) and fits the providers' own schemas: the output of
//!   `terraform providers schema -json` for the versions the module pins
//!   (dmacvicar/libvirt 0.8.3, bpg/proxmox 0.111.1, hashicorp/random 3.9.0),
//!   trimmed to the resource types rmqgen writes and committed as
//!   `tests/data/<name>-<version>.schema.json` by `scripts/tf-providers.sh
//!   schemas` (`tests/terraform_tools.rs` checks that the committed files
//!   are what the real providers print). Every attribute exists, is
//!   settable (not computed-only), not deprecated, written as an attribute
//!   and not as a block or the other way round, with a literal of the
//!   schema's type; every nested block appears no more often than the
//!   schema allows; every required attribute and block is there; every
//!   `ignore_changes` entry names an attribute;
//! - refers only to variables, locals and resources it declares;
//! - declares every variable typed, described and in alphabetical order,
//!   secrets `sensitive`, and marks every output that exposes one
//!   `sensitive`;
//! - iterates every per-host resource over `local.nodes`, whose keys are
//!   the host names.
//!
//! HashiCorp's own parser, `terraform fmt` and `terraform validate` with
//! the real providers check the same modules in `tests/terraform_tools.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use hcl::expr::{Expression, Operation, TraversalOperator};
use hcl::{Block, Body};
use serde_json::Value;

use crate::common::examples::{self, with_provider, with_provisioning};

/// Resource types and provider blocks ("provider.<name>"), each with the
/// `block` of its schema.
type Schemas = BTreeMap<String, Value>;

/// Meta-arguments Terraform accepts on every resource.
const META_ARGUMENTS: &[&str] = &["count", "depends_on", "for_each", "provider"];

/// `required_providers` of a module's versions.tf: name -> (source,
/// version constraint).
fn pins(files: &BTreeMap<String, Body>) -> BTreeMap<String, (String, String)> {
    let terraform = blocks(files, "terraform")
        .next()
        .expect("a terraform block");
    let required = terraform
        .body()
        .blocks()
        .find(|b| b.identifier() == "required_providers")
        .expect("required_providers");
    let mut out = BTreeMap::new();
    for a in required.body().attributes() {
        let Expression::Object(o) = a.expr() else {
            panic!("{} is not an object", a.key())
        };
        let field = |k: &str| match o.iter().find(|(key, _)| key.to_string() == k) {
            Some((_, Expression::String(s))) => s.clone(),
            other => panic!("{}.{k}: {other:?}", a.key()),
        };
        out.insert(a.key().to_string(), (field("source"), field("version")));
    }
    out
}

/// The exact version a `~> X.Y.Z` pin stands for: the one
/// `scripts/tf-providers.sh` builds and the schema file is named after.
fn pinned_version(constraint: &str) -> &str {
    let v = constraint
        .strip_prefix("~> ")
        .unwrap_or_else(|| panic!("pin {constraint} is not ~> X.Y.Z"));
    assert_eq!(v.split('.').count(), 3, "pin {constraint} is not ~> X.Y.Z");
    v
}

fn schema_file(name: &str, version: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(format!("{name}-{version}.schema.json"))
}

/// The schemas of the providers a module pins.
fn schemas(pins: &BTreeMap<String, (String, String)>) -> Schemas {
    let mut all = Schemas::new();
    for (name, (source, constraint)) in pins {
        let path = schema_file(name, pinned_version(constraint));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e} (scripts/tf-providers.sh schemas writes it)",
                path.display()
            )
        });
        let doc: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            doc["provider"],
            format!("registry.terraform.io/{source}"),
            "{}",
            path.display()
        );
        all.insert(
            format!("provider.{name}"),
            doc["provider_config"]["block"].clone(),
        );
        for (kind, s) in doc["resource_schemas"].as_object().unwrap() {
            all.insert(kind.clone(), s["block"].clone());
        }
    }
    all
}

/// Every example as a cloud-init and as a NixOS cluster, each with its own
/// provider and with the provider switched.
fn modules() -> Vec<(String, rmqgen::Output)> {
    examples::provider_variants()
        .into_iter()
        .map(|v| {
            let what = format!("{} ({}, {})", v.stem, v.provisioning, v.provider);
            let out = compile(&what, &v.spec);
            (what, out)
        })
        .collect()
}

fn compile(what: &str, source: &str) -> rmqgen::Output {
    rmqgen::compile(source).unwrap_or_else(|e| panic!("{what}: {e}\n{e:?}"))
}

fn tf_files(out: &rmqgen::Output) -> BTreeMap<String, Body> {
    let mut files = BTreeMap::new();
    for (path, artifact) in out.bundle.iter() {
        if let Some(name) = path.strip_prefix("terraform/") {
            let body: Body = hcl::parse(artifact.text())
                .unwrap_or_else(|e| panic!("{path} does not parse: {e}"));
            files.insert(name.to_string(), body);
        }
    }
    files
}

fn blocks<'a>(files: &'a BTreeMap<String, Body>, kind: &'a str) -> impl Iterator<Item = &'a Block> {
    files
        .values()
        .flat_map(|b| b.blocks())
        .filter(move |b| b.identifier() == kind)
}

fn label(block: &Block, i: usize) -> &str {
    block.labels()[i].as_str()
}

fn attr<'a>(block: &'a Block, key: &str) -> Option<&'a Expression> {
    block
        .body()
        .attributes()
        .find(|a| a.key() == key)
        .map(|a| a.expr())
}

fn flag(v: &Value, key: &str) -> bool {
    v.get(key).and_then(Value::as_bool).unwrap_or(false)
}

/// The type an attribute's value must have: its cty type, or for a nested
/// attribute (plugin framework) the object or collection of objects its
/// `nested_type` describes.
fn attribute_type(a: &Value) -> Value {
    if let Some(t) = a.get("type") {
        return t.clone();
    }
    let nested = &a["nested_type"];
    let object = Value::Array(vec![
        "object".into(),
        Value::Object(
            nested["attributes"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(k, v)| (k.clone(), attribute_type(v)))
                .collect(),
        ),
    ]);
    match nested["nesting_mode"].as_str() {
        Some("single") => object,
        Some(mode) => Value::Array(vec![mode.into(), object]),
        None => panic!("attribute without type: {a}"),
    }
}

/// Checks a literal against a cty type; references, calls, templates with
/// interpolations and operations are Terraform's to check (`terraform
/// validate`), except that a template is a string and arithmetic a number.
fn check_type(ty: &Value, expr: &Expression, at: &str, problems: &mut Vec<String>) {
    let name = ty.as_str().or_else(|| ty.get(0).and_then(Value::as_str));
    let mismatch = |problems: &mut Vec<String>, what: &str| {
        problems.push(format!("{at}: {what} where the schema wants {ty}"));
    };
    match (name, expr) {
        (Some("dynamic"), _) => {}
        (Some("string"), Expression::String(_) | Expression::TemplateExpr(_)) => {}
        (Some("number"), Expression::Number(_)) => {}
        (Some("number"), Expression::Operation(op))
            if matches!(op.as_ref(), Operation::Binary(_)) => {}
        (Some("bool"), Expression::Bool(_)) => {}
        (Some("list" | "set"), Expression::Array(items)) => {
            for (i, item) in items.iter().enumerate() {
                check_type(&ty[1], item, &format!("{at}[{i}]"), problems);
            }
        }
        (Some("tuple"), Expression::Array(items)) => {
            let types = ty[1].as_array().unwrap();
            if types.len() != items.len() {
                mismatch(problems, &format!("{} elements", items.len()));
            }
            for (i, (t, item)) in types.iter().zip(items).enumerate() {
                check_type(t, item, &format!("{at}[{i}]"), problems);
            }
        }
        (Some("map"), Expression::Object(o)) => {
            for (k, v) in o {
                check_type(&ty[1], v, &format!("{at}.{k}"), problems);
            }
        }
        (Some("object"), Expression::Object(o)) => {
            let fields = ty[1].as_object().unwrap();
            for (k, v) in o {
                let key = k.to_string().trim_matches('"').to_string();
                match fields.get(&key) {
                    Some(t) => check_type(t, v, &format!("{at}.{key}"), problems),
                    None => problems.push(format!("{at}: the object type has no {key}")),
                }
            }
        }
        (
            _,
            Expression::String(_)
            | Expression::Number(_)
            | Expression::Bool(_)
            | Expression::Array(_)
            | Expression::Object(_),
        ) => mismatch(problems, "a literal of another type"),
        (_, Expression::TemplateExpr(_)) => mismatch(problems, "a string template"),
        _ => {}
    }
}

/// The schema of one element of an attribute whose type is a list or set
/// of objects: Terraform also accepts such an attribute in block syntax,
/// one block per element (every field optional).
fn block_syntax(attribute: &Value) -> Option<Value> {
    let ty = attribute.get("type")?;
    if !matches!(ty.get(0).and_then(Value::as_str), Some("list" | "set")) {
        return None;
    }
    let element = ty.get(1)?;
    if element.get(0).and_then(Value::as_str) != Some("object") {
        return None;
    }
    let fields = element.get(1)?.as_object()?;
    Some(serde_json::json!({
        "attributes": fields
            .iter()
            .map(|(k, t)| (k.clone(), serde_json::json!({ "type": t, "optional": true })))
            .collect::<serde_json::Map<String, Value>>()
    }))
}

/// Checks a body against a schema `block`, collecting problems.
fn check_block(schema: &Value, body: &Body, at: &str, top: bool, problems: &mut Vec<String>) {
    let attributes = schema["attributes"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let nested = schema["block_types"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let join = |k: &str| format!("{at}.{k}");
    for a in body.attributes() {
        let key = a.key();
        if top && META_ARGUMENTS.contains(&key) {
            continue;
        }
        let Some(spec) = attributes.get(key) else {
            problems.push(if nested.contains_key(key) {
                format!("{}: a block, written as an attribute", join(key))
            } else {
                format!("{}: no such attribute", join(key))
            });
            continue;
        };
        if flag(spec, "computed") && !flag(spec, "optional") && !flag(spec, "required") {
            problems.push(format!("{}: computed only, cannot be set", join(key)));
        }
        if flag(spec, "deprecated") {
            problems.push(format!("{}: deprecated", join(key)));
        }
        check_type(&attribute_type(spec), a.expr(), &join(key), problems);
    }
    let mut counts: BTreeMap<&str, u64> = BTreeMap::new();
    for b in body.blocks() {
        let key = b.identifier();
        if top && key == "lifecycle" {
            let names: BTreeSet<&str> = attributes
                .keys()
                .chain(nested.keys())
                .map(String::as_str)
                .collect();
            check_lifecycle(&names, b, at, problems);
            continue;
        }
        let Some(spec) = nested.get(key) else {
            match attributes.get(key).and_then(block_syntax) {
                // Terraform takes block syntax for a list or set of
                // objects (SDKv2's attributes-as-blocks); the block is one
                // element.
                Some(element) => {
                    check_block(&element, b.body(), &join(key), false, problems);
                }
                None if attributes.contains_key(key) => {
                    problems.push(format!("{}: an attribute, written as a block", join(key)));
                }
                None => problems.push(format!("{}: no such block", join(key))),
            }
            continue;
        };
        *counts.entry(key).or_default() += 1;
        if flag(&spec["block"], "deprecated") {
            problems.push(format!("{}: deprecated", join(key)));
        }
        check_block(&spec["block"], b.body(), &join(key), false, problems);
    }
    for (key, spec) in &attributes {
        if flag(spec, "required") && !body.attributes().any(|a| a.key() == key) {
            problems.push(format!("{}: required, missing", join(key)));
        }
    }
    for (key, spec) in &nested {
        let n = counts.get(key.as_str()).copied().unwrap_or(0);
        let min = spec.get("min_items").and_then(Value::as_u64).unwrap_or(0);
        let max = spec.get("max_items").and_then(Value::as_u64);
        let single = matches!(spec["nesting_mode"].as_str(), Some("single" | "group"));
        if n < min {
            problems.push(format!(
                "{}: {n} blocks, at least {min} required",
                join(key)
            ));
        }
        if max.is_some_and(|m| m > 0 && n > m) || (single && n > 1) {
            problems.push(format!("{}: {n} blocks, more than allowed", join(key)));
        }
    }
}

/// `lifecycle`: only Terraform's own arguments, and `ignore_changes` names
/// attributes or nested blocks of the resource.
fn check_lifecycle(
    attributes: &BTreeSet<&str>,
    lifecycle: &Block,
    at: &str,
    problems: &mut Vec<String>,
) {
    for a in lifecycle.body().attributes() {
        match (a.key(), a.expr()) {
            ("ignore_changes", Expression::Array(items)) => {
                for item in items {
                    let name = match item {
                        Expression::Variable(v) => v.to_string(),
                        Expression::Traversal(t) => match &t.expr {
                            Expression::Variable(v) => v.to_string(),
                            other => format!("{other}"),
                        },
                        other => format!("{other}"),
                    };
                    if !attributes.contains(name.as_str()) {
                        problems.push(format!("{at}: ignore_changes names {name}, no attribute"));
                    }
                }
            }
            ("create_before_destroy" | "prevent_destroy", Expression::Bool(_)) => {}
            (key, _) => problems.push(format!("{at}.lifecycle.{key}: not understood here")),
        }
    }
}

#[test]
fn resources_fit_the_provider_schemas() {
    for (what, out) in modules() {
        let files = tf_files(&out);
        assert_eq!(
            files.keys().map(String::as_str).collect::<Vec<_>>(),
            [
                "main.tf",
                "outputs.tf",
                "providers.tf",
                "variables.tf",
                "versions.tf"
            ],
            "{what}"
        );
        let schemas = schemas(&pins(&files));
        let mut problems = Vec::new();
        let mut check = |kind: &str, at: String, body: &Body| match schemas.get(kind) {
            Some(schema) => check_block(schema, body, &at, true, &mut problems),
            None => problems.push(format!("{at}: no schema for {kind}")),
        };
        for r in blocks(&files, "resource") {
            let at = format!("{}.{}", label(r, 0), label(r, 1));
            check(label(r, 0), at, r.body());
        }
        for p in blocks(&files, "provider") {
            let kind = format!("provider.{}", label(p, 0));
            check(&kind, kind.clone(), p.body());
        }
        assert!(problems.is_empty(), "{what}:\n{}", problems.join("\n"));
    }
}

/// The checker itself catches what the docs-derived lists could not: a
/// nested block written as an attribute, a wrong literal type, a missing
/// required argument, an attribute only the provider sets, an unknown
/// `ignore_changes` entry.
#[test]
fn the_schema_check_sees_real_mistakes() {
    let read = |name: &str, version: &str, kind: &str| -> Value {
        let doc: Value =
            serde_json::from_str(&std::fs::read_to_string(schema_file(name, version)).unwrap())
                .unwrap();
        doc["resource_schemas"][kind]["block"].clone()
    };
    let domain = read("libvirt", "0.8.3", "libvirt_domain");
    let password = read("random", "3.9.0", "random_password");
    let problems = |schema: &Value, hcl: &str| {
        let body: Body = hcl::parse(hcl).unwrap();
        let mut problems = Vec::new();
        check_block(schema, &body, "r", true, &mut problems);
        problems
    };
    assert_eq!(
        problems(
            &domain,
            "name = \"a\"\nfor_each = {}\ncpu { mode = \"host-passthrough\" }\n"
        ),
        Vec::<String>::new()
    );
    for (schema, hcl, expected) in [
        (
            &domain,
            "name = \"a\"\ncpu = { mode = \"x\" }",
            "r.cpu: a block, written as an attribute",
        ),
        (
            &domain,
            "name = \"a\"\nvcpu = \"two\"",
            "r.vcpu: a literal of another type",
        ),
        (&domain, "vcpu = 2", "r.name: required, missing"),
        (
            &domain,
            "name = \"a\"\nmemory_unit = \"MiB\"",
            "r.memory_unit: no such attribute",
        ),
        (
            &domain,
            "name = \"a\"\nname { }",
            "r.name: an attribute, written as a block",
        ),
        (
            &domain,
            "name = \"a\"\ncpu {}\ncpu {}",
            "r.cpu: 2 blocks, more than allowed",
        ),
        (
            &domain,
            "name = \"a\"\nconsole { type = \"pty\" }",
            "r.console.target_port: required, missing",
        ),
        (
            &domain,
            "name = \"a\"\nlifecycle { ignore_changes = [cloud_init] }",
            "r: ignore_changes names cloud_init, no attribute",
        ),
        (
            &password,
            "length = 8\nresult = \"x\"",
            "r.result: computed only, cannot be set",
        ),
    ] {
        let found = problems(schema, hcl);
        assert!(
            found.iter().any(|p| p.contains(expected)),
            "{hcl}: expected {expected}, found {found:?}"
        );
    }
}

/// cloud-init is first-boot only (a rollout carries later changes): the
/// seed resources ignore changes to their content, so a changed user-data
/// neither churns a running VM's seed nor, on Proxmox, replaces the VM (a
/// replaced snippet's id is unknown until apply, and the VM's
/// `initialization` file ids force a new VM).
#[test]
fn seeds_keep_what_the_vms_first_booted_with() {
    for (what, out) in modules() {
        let files = tf_files(&out);
        let ignored = |r: &Block| -> BTreeSet<String> {
            r.body()
                .blocks()
                .filter(|b| b.identifier() == "lifecycle")
                .filter_map(|b| attr(b, "ignore_changes"))
                .flat_map(|e| match e {
                    Expression::Array(items) => items.iter().map(|i| i.to_string()).collect(),
                    _ => Vec::new(),
                })
                .collect()
        };
        let mut seeds = 0;
        for r in blocks(&files, "resource") {
            let expected: &[&str] = match label(r, 0) {
                "libvirt_cloudinit_disk" => &["meta_data", "network_config", "user_data"],
                "proxmox_virtual_environment_file" => &["source_raw"],
                _ => continue,
            };
            seeds += 1;
            let names = ignored(r);
            for e in expected {
                assert!(
                    names.contains(*e),
                    "{what}: {} ignores {names:?}",
                    label(r, 1)
                );
            }
        }
        assert!(seeds > 0, "{what}: no seed resource");
    }
}

/// The pins, the schema files and scripts/tf-providers.sh name the same
/// versions: what the tests check is what `terraform init` installs.
#[test]
fn pins_schemas_and_the_provider_script_agree() {
    let script = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/tf-providers.sh"),
    )
    .unwrap();
    let mut seen = BTreeSet::new();
    for (what, out) in modules() {
        for (name, (source, constraint)) in pins(&tf_files(&out)) {
            let version = pinned_version(&constraint);
            assert!(
                schema_file(&name, version).is_file(),
                "{what}: no tests/data/{name}-{version}.schema.json"
            );
            assert!(
                script.contains(&format!("\"{source}|"))
                    && script.contains(&format!("|{version}\"")),
                "{what}: scripts/tf-providers.sh does not build {source} {version}"
            );
            seen.insert(name);
        }
    }
    assert_eq!(
        seen.into_iter().collect::<Vec<_>>(),
        ["libvirt", "proxmox", "random"]
    );
    // No schema file that no pin uses.
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
    let mut files: Vec<String> = std::fs::read_dir(&data)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|f| f.ends_with(".schema.json") || f.ends_with(".attributes.json"))
        .collect();
    files.sort();
    assert_eq!(
        files,
        [
            "libvirt-0.8.3.schema.json",
            "proxmox-0.111.1.schema.json",
            "random-3.9.0.schema.json"
        ]
    );
}

/// `(root, first attribute)` of every reference in an expression, minus
/// the variables of enclosing `for` expressions.
fn refs(expr: &Expression, bound: &BTreeSet<String>, out: &mut BTreeSet<(String, String)>) {
    let mut push = |root: &str, first: Option<&str>| {
        if !bound.contains(root) {
            out.insert((root.to_string(), first.unwrap_or("").to_string()));
        }
    };
    match expr {
        Expression::Variable(v) => push(v.as_str(), None),
        Expression::Traversal(t) => {
            let first = match t.operators.first() {
                Some(TraversalOperator::GetAttr(id)) => Some(id.as_str()),
                _ => None,
            };
            match &t.expr {
                Expression::Variable(v) => push(v.as_str(), first),
                other => refs(other, bound, out),
            }
            for op in &t.operators {
                if let TraversalOperator::Index(e) = op {
                    refs(e, bound, out);
                }
            }
        }
        Expression::FuncCall(f) => f.args.iter().for_each(|a| refs(a, bound, out)),
        Expression::Array(a) => a.iter().for_each(|a| refs(a, bound, out)),
        Expression::Object(o) => o.values().for_each(|v| refs(v, bound, out)),
        Expression::Parenthesis(e) => refs(e, bound, out),
        Expression::Conditional(c) => {
            for e in [&c.cond_expr, &c.true_expr, &c.false_expr] {
                refs(e, bound, out);
            }
        }
        Expression::Operation(op) => match op.as_ref() {
            Operation::Unary(u) => refs(&u.expr, bound, out),
            Operation::Binary(b) => {
                refs(&b.lhs_expr, bound, out);
                refs(&b.rhs_expr, bound, out);
            }
        },
        Expression::ForExpr(f) => {
            refs(&f.collection_expr, bound, out);
            let mut inner = bound.clone();
            inner.insert(f.value_var.to_string());
            if let Some(k) = &f.key_var {
                inner.insert(k.to_string());
            }
            for e in [
                Some(&f.value_expr),
                f.key_expr.as_ref(),
                f.cond_expr.as_ref(),
            ]
            .into_iter()
            .flatten()
            {
                refs(e, &inner, out);
            }
        }
        Expression::TemplateExpr(t) => {
            let template = hcl::Template::from_expr(t).unwrap();
            for element in template.elements() {
                if let hcl::template::Element::Interpolation(i) = element {
                    refs(&i.expr, bound, out);
                }
            }
        }
        _ => {}
    }
}

fn body_refs(body: &Body, out: &mut BTreeSet<(String, String)>) {
    for a in body.attributes() {
        refs(a.expr(), &BTreeSet::new(), out);
    }
    for b in body.blocks() {
        // `ignore_changes` names the resource's own attributes.
        if b.identifier() != "lifecycle" {
            body_refs(b.body(), out);
        }
    }
}

#[test]
fn every_reference_is_declared() {
    for (what, out) in modules() {
        let files = tf_files(&out);
        let variables: BTreeSet<&str> = blocks(&files, "variable").map(|b| label(b, 0)).collect();
        let locals: BTreeSet<&str> = blocks(&files, "locals")
            .flat_map(|b| b.body().attributes().map(|a| a.key()))
            .collect();
        let resources: BTreeSet<(&str, &str)> = blocks(&files, "resource")
            .map(|b| (label(b, 0), label(b, 1)))
            .collect();
        let mut used = BTreeSet::new();
        for file in files.values() {
            for b in file.blocks() {
                if b.identifier() == "variable" {
                    continue; // type constraints and validations
                }
                body_refs(b.body(), &mut used);
            }
        }
        for (root, first) in &used {
            let ok = match root.as_str() {
                "var" => variables.contains(first.as_str()),
                "local" => locals.contains(first.as_str()),
                "each" => ["key", "value"].contains(&first.as_str()),
                "path" => first == "module",
                kind => resources.contains(&(kind, first.as_str())),
            };
            assert!(ok, "{what}: {root}.{first} is not declared");
        }
        // Nothing declared goes unused.
        for v in &variables {
            assert!(
                used.contains(&("var".to_string(), v.to_string())),
                "{what}: variable {v} is never used"
            );
        }
    }
}

#[test]
fn variables_are_typed_described_sorted_and_secrets_sensitive() {
    for (what, out) in modules() {
        let files = tf_files(&out);
        let vars: Vec<&Block> = blocks(&files, "variable").collect();
        let names: Vec<&str> = vars.iter().map(|b| label(b, 0)).collect();
        let mut sorted = names.clone();
        sorted.sort();
        assert_eq!(names, sorted, "{what}: variables are not sorted");
        for v in &vars {
            let name = label(v, 0);
            assert!(attr(v, "type").is_some(), "{what}: {name} has no type");
            assert!(
                matches!(attr(v, "description"), Some(Expression::String(s)) if !s.is_empty()),
                "{what}: {name} has no description"
            );
        }
        let sensitive = |name: &str| {
            vars.iter()
                .find(|v| label(v, 0) == name)
                .and_then(|v| attr(v, "sensitive"))
                == Some(&Expression::Bool(true))
        };
        for s in &out.plan.secrets {
            if let rmqgen::spec::SecretSource::Variable { name } = &*s.source {
                assert!(
                    sensitive(name),
                    "{what}: secret variable {name} is not sensitive"
                );
            }
        }
        if names.contains(&"proxmox_api_token") {
            assert!(sensitive("proxmox_api_token"), "{what}");
        }
        // An output that reads a generated secret or a sensitive variable
        // is sensitive itself (Terraform refuses the plan otherwise).
        let secret_refs: BTreeSet<(String, String)> = out
            .plan
            .secrets
            .iter()
            .map(|s| match &*s.source {
                rmqgen::spec::SecretSource::Variable { name } => ("var".into(), name.clone()),
                _ => ("random_password".into(), s.tf_name.clone()),
            })
            .collect();
        for o in blocks(&files, "output") {
            let mut used = BTreeSet::new();
            refs(attr(o, "value").unwrap(), &BTreeSet::new(), &mut used);
            if used.iter().any(|r| secret_refs.contains(r)) {
                assert_eq!(
                    attr(o, "sensitive"),
                    Some(&Expression::Bool(true)),
                    "{what}: output {} exposes a secret",
                    label(o, 0)
                );
            }
        }
    }
}

#[test]
fn per_host_resources_iterate_the_nodes() {
    for (what, out) in modules() {
        let files = tf_files(&out);
        let locals = blocks(&files, "locals").next().unwrap();
        let Some(Expression::Object(nodes)) = attr(locals, "nodes") else {
            panic!("{what}: local.nodes is not an object")
        };
        let keys: Vec<String> = nodes
            .keys()
            .map(|k| k.to_string().trim_matches('"').to_string())
            .collect();
        let hosts: Vec<String> = out.plan.hosts.iter().map(|h| h.name.to_string()).collect();
        assert_eq!(keys, hosts, "{what}");
        let mut macs = BTreeSet::new();
        for (host, node) in out.plan.hosts.iter().zip(nodes.values()) {
            let Expression::Object(fields) = node else {
                panic!("{what}: node {} is not an object", host.name)
            };
            let field = |k: &str| {
                fields
                    .iter()
                    .find(|(key, _)| key.to_string() == k)
                    .map(|(_, v)| v.clone())
                    .unwrap_or_else(|| panic!("{what}: {} has no {k}", host.name))
            };
            assert_eq!(
                field("address"),
                Expression::String(host.address.to_string())
            );
            assert_eq!(field("mac"), Expression::String(host.mac.clone()));
            for k in ["role", "vcpus", "memory_mib", "disk_gib"] {
                field(k);
            }
            assert!(macs.insert(host.mac.clone()), "{what}: duplicate MAC");
        }
        // Every resource but the shared ones (base image, secrets) is per host.
        for r in blocks(&files, "resource") {
            let shared = label(r, 0) == "random_password" || label(r, 1).starts_with("base");
            let for_each = attr(r, "for_each").map(|e| e.to_string());
            if shared {
                assert_eq!(for_each, None, "{what}: {} {}", label(r, 0), label(r, 1));
            } else {
                assert_eq!(
                    for_each.as_deref(),
                    Some("local.nodes"),
                    "{what}: {}",
                    label(r, 0)
                );
            }
        }
    }
}

/// Switching examples/five-vm.json to Proxmox, and nothing else, renders a
/// Proxmox module (the other tests check it in depth).
#[test]
fn five_vm_on_proxmox() {
    let source = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/five-vm.json"),
    )
    .unwrap();
    let out = compile("five-vm on proxmox", &with_provider(&source, "proxmox"));
    let text = |p: &str| out.bundle.get(p).unwrap().text().to_string();
    assert!(text("terraform/versions.tf").contains("bpg/proxmox"));
    assert!(text("terraform/providers.tf").contains("provider \"proxmox\""));
    let main = text("terraform/main.tf");
    assert!(main.contains("resource \"proxmox_virtual_environment_vm\" \"node\""));
    assert!(!main.contains("libvirt"));
    // The plan's interface name survives (Proxmox's own config would say eth0).
    assert!(main.contains("set-name    = \"ens33\""), "{main}");
    for f in [
        "main.tf",
        "variables.tf",
        "outputs.tf",
        "providers.tf",
        "versions.tf",
    ] {
        assert!(!text(&format!("terraform/{f}")).contains("libvirt"), "{f}");
    }
}

/// Both providers, for a NixOS cluster: the VMs boot the NixOS image
/// (its own variable, nothing of the cloud image), with the same seed
/// documents the cloud-init path attaches, except that the user-data
/// writes only the host's secrets; an output says how to deploy each host.
#[test]
fn nixos_module_boots_the_nixos_image() {
    let source = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/five-vm.json"),
    )
    .unwrap();
    for provider in ["libvirt", "proxmox"] {
        let what = format!("five-vm on nixos ({provider})");
        let cloud = compile(&what, &with_provider(&source, provider));
        let nixos = compile(
            &what,
            &with_provider(&with_provisioning(&source, "nixos"), provider),
        );
        let files = tf_files(&nixos);
        let variables: Vec<&str> = blocks(&files, "variable").map(|b| label(b, 0)).collect();
        let (image, cloud_image) = match provider {
            "libvirt" => ("nixos_image", "base_image"),
            _ => ("nixos_image_url", "base_image_url"),
        };
        assert!(variables.contains(&image), "{what}: {variables:?}");
        assert!(!variables.contains(&cloud_image), "{what}: {variables:?}");
        let text = |o: &rmqgen::Output, p: &str| o.bundle.get(p).unwrap().text().to_string();
        let main = text(&nixos, "terraform/main.tf");
        assert!(main.contains(&format!("var.{image}")), "{what}");
        // The same module but for the image: the seed's network config and
        // meta-data, the VMs, the secrets.
        let strip = |t: &str| {
            t.lines()
                .filter(|l| !l.starts_with('#'))
                .map(|l| {
                    l.replace(&format!("var.{cloud_image}"), &format!("var.{image}"))
                        .replace("-base.qcow2", "-nixos.qcow2")
                })
                .collect::<Vec<_>>()
                .join("\n")
        };
        assert_eq!(
            strip(&main),
            strip(&text(&cloud, "terraform/main.tf")),
            "{what}: main.tf differs beyond the image"
        );
        // Every host's user-data: a cloud-config that writes its secrets,
        // and nothing else.
        for host in &nixos.plan.hosts {
            let path = format!("cloud-init/{}.yaml.tftpl", host.name);
            let user_data = text(&nixos, &path);
            assert!(user_data.starts_with("#cloud-config\n"), "{path}");
            let keys: Vec<&str> = user_data
                .lines()
                .filter(|l| !l.starts_with('#') && !l.starts_with(' ') && !l.is_empty())
                .collect();
            assert_eq!(keys, ["write_files:"], "{path}");
            let secrets: Vec<&rmqgen::plan::Secret> = nixos
                .plan
                .secrets
                .iter()
                .filter(|s| s.role == host.role)
                .collect();
            assert!(!secrets.is_empty(), "{path}");
            assert_eq!(
                user_data.matches("- path: ").count(),
                secrets.len(),
                "{path}"
            );
            for s in secrets {
                assert!(
                    user_data.contains(&format!("- path: {}\n", s.install_path())),
                    "{path}: {}",
                    s.id
                );
                assert!(user_data.contains(&s.tf_name), "{path}: {}", s.id);
            }
        }
        let outputs = text(&nixos, "terraform/outputs.tf");
        assert!(
            outputs.contains(
                "{ for name, node in local.nodes : name => \"nixos-rebuild switch --flake .#${name} --target-host root@${node.address}\" }"
            ),
            "{what}: {outputs}"
        );
        assert!(!text(&cloud, "terraform/outputs.tf").contains("deploy_commands"));
    }
}
