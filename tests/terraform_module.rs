//! The Terraform root module, checked without Terraform (no provider can be
//! downloaded here): every example, as a cloud-init and as a NixOS cluster,
//! each with its own provider and with the provider switched (libvirt <->
//! proxmox), renders a module that
//!
//! - parses (hcl-rs) and uses only the attributes and nested blocks the
//!   providers document (`tests/data/*.attributes.json`, taken from
//!   dmacvicar/libvirt 0.9.7, bpg/proxmox 0.111 and hashicorp/random 3.7);
//! - refers only to variables, locals and resources it declares;
//! - declares every variable typed, described and in alphabetical order,
//!   secrets `sensitive`, and marks every output that exposes one
//!   `sensitive`;
//! - iterates every per-host resource over `local.nodes`, whose keys are
//!   the host names.
//!
//! HashiCorp's own parser and `terraform fmt` check the same modules in
//! `tests/terraform_tools.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use hcl::expr::{Expression, Operation, TraversalOperator};
use hcl::{Block, Body};

use crate::common::examples::{self, with_provider, with_provisioning};

/// resource type -> dotted path ("" for the top level) -> allowed keys.
type Schema = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

const META_ARGUMENTS: &[&str] = &["count", "depends_on", "for_each", "lifecycle", "provider"];

/// Provider configuration, from the providers' docs/index.md.
const PROVIDER_SCHEMA: &[(&str, &str, &[&str])] = &[
    ("libvirt", "", &["uri"]),
    (
        "proxmox",
        "",
        &[
            "endpoint",
            "insecure",
            "min_tls",
            "auth_ticket",
            "csrf_prevention_token",
            "api_token",
            "otp",
            "username",
            "password",
            "ssh",
            "tmp_dir",
            "random_vm_ids",
            "random_vm_id_start",
            "random_vm_id_end",
        ],
    ),
    (
        "proxmox",
        "ssh",
        &[
            "username",
            "password",
            "agent",
            "agent_socket",
            "agent_forwarding",
            "private_key",
            "socks5_server",
            "socks5_username",
            "socks5_password",
            "node_address_source",
            "node",
        ],
    ),
];

fn schema() -> Schema {
    let mut all = Schema::new();
    for file in [
        "libvirt-0.9.7.attributes.json",
        "proxmox-0.111.attributes.json",
        "random-3.7.attributes.json",
    ] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(file);
        let text = std::fs::read_to_string(&path).unwrap();
        let parsed: Schema = serde_json::from_str(&text).unwrap();
        all.extend(parsed);
    }
    for (name, path, keys) in PROVIDER_SCHEMA {
        all.entry(format!("provider.{name}")).or_default().insert(
            path.to_string(),
            keys.iter().map(|k| k.to_string()).collect(),
        );
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

/// Checks a body against `schema[kind]`, collecting problems.
fn check_body(schema: &Schema, kind: &str, path: &str, body: &Body, problems: &mut Vec<String>) {
    let Some(paths) = schema.get(kind) else {
        problems.push(format!("{kind}: no documented schema"));
        return;
    };
    let allowed = paths.get(path).cloned().unwrap_or_default();
    let join = |k: &str| {
        if path.is_empty() {
            k.to_string()
        } else {
            format!("{path}.{k}")
        }
    };
    for a in body.attributes() {
        if path.is_empty() && META_ARGUMENTS.contains(&a.key()) {
            continue;
        }
        if !allowed.contains(a.key()) {
            problems.push(format!(
                "{kind}: attribute {} is not documented",
                join(a.key())
            ));
            continue;
        }
        check_value(schema, kind, &join(a.key()), a.expr(), problems);
    }
    for b in body.blocks() {
        if !allowed.contains(b.identifier()) {
            problems.push(format!(
                "{kind}: block {} is not documented",
                join(b.identifier())
            ));
            continue;
        }
        check_body(schema, kind, &join(b.identifier()), b.body(), problems);
    }
}

/// Nested attributes (libvirt 0.9): an object or a list of objects whose
/// path has a schema of its own is checked key by key; other objects are
/// map values.
fn check_value(
    schema: &Schema,
    kind: &str,
    path: &str,
    expr: &Expression,
    problems: &mut Vec<String>,
) {
    let Some(allowed) = schema.get(kind).and_then(|p| p.get(path)) else {
        return;
    };
    match expr {
        Expression::Object(o) => {
            for (k, v) in o {
                let key = k.to_string().trim_matches('"').to_string();
                if !allowed.contains(&key) {
                    problems.push(format!("{kind}: attribute {path}.{key} is not documented"));
                    continue;
                }
                check_value(schema, kind, &format!("{path}.{key}"), v, problems);
            }
        }
        Expression::Array(items) => {
            for item in items {
                check_value(schema, kind, path, item, problems);
            }
        }
        _ => {}
    }
}

#[test]
fn resources_use_only_documented_attributes() {
    let schema = schema();
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
        let mut problems = Vec::new();
        for r in blocks(&files, "resource") {
            check_body(&schema, label(r, 0), "", r.body(), &mut problems);
        }
        for p in blocks(&files, "provider") {
            check_body(
                &schema,
                &format!("provider.{}", label(p, 0)),
                "",
                p.body(),
                &mut problems,
            );
        }
        assert!(problems.is_empty(), "{what}:\n{}", problems.join("\n"));
    }
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
        body_refs(b.body(), out);
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
            if let rmqgen::spec::SecretSource::Variable { name } = &s.source {
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
            .map(|s| match &s.source {
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
        let hosts: Vec<String> = out.plan.hosts.iter().map(|h| h.name.clone()).collect();
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
