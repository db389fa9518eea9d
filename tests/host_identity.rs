//! Terraform tolerates change: adding a host touches only that host's
//! resources. The reference spec (`examples/five-vm.json`) and the same spec
//! with a fourth broker are rendered for both providers; in the rendered
//! `terraform/main.tf` (parsed with hcl-rs) every existing host keeps its
//! entry of `local.nodes` byte for byte (address, MAC, Proxmox `vm_id`,
//! size), every resource keeps its type, name and `for_each`, and the only
//! new key is the new host's. Each per-host resource iterates
//! `local.nodes`, so its instance keys are exactly those keys.

use std::collections::BTreeMap;

use hcl::expr::{Expression, ObjectKey};
use hcl::Body;
use serde_json::{json, Value};

/// The spec with `target.provider` set (self-contained, so this file is
/// the same as its own test crate or as a module of one).
fn with_provider(source: &str, provider: &str) -> String {
    let mut v: Value = serde_json::from_str(source).unwrap();
    v["target"]["provider"] = provider.into();
    serde_json::to_string_pretty(&v).unwrap()
}

/// `local.nodes` of a rendered main.tf: host name -> its object, as HCL.
fn nodes(body: &Body) -> BTreeMap<String, String> {
    let locals = body
        .blocks()
        .find(|b| b.identifier() == "locals")
        .expect("main.tf has a locals block");
    let nodes = locals
        .body()
        .attributes()
        .find(|a| a.key() == "nodes")
        .expect("locals has nodes");
    let Expression::Object(object) = nodes.expr() else {
        panic!("local.nodes is not an object literal: {:?}", nodes.expr())
    };
    object
        .iter()
        .map(|(k, v)| {
            let key = match k {
                ObjectKey::Expression(Expression::String(s)) => s.clone(),
                ObjectKey::Identifier(i) => i.to_string(),
                other => panic!("unexpected key {other:?}"),
            };
            (key, hcl::format::to_string(v).expect("formats"))
        })
        .collect()
}

/// Every resource: "type.name" -> its `for_each` (if any), as HCL.
fn resources(body: &Body) -> BTreeMap<String, Option<String>> {
    body.blocks()
        .filter(|b| b.identifier() == "resource")
        .map(|b| {
            let labels: Vec<&str> = b.labels().iter().map(|l| l.as_str()).collect();
            let for_each = b
                .body()
                .attributes()
                .find(|a| a.key() == "for_each")
                .map(|a| hcl::format::to_string(a.expr()).expect("formats"));
            (labels.join("."), for_each)
        })
        .collect()
}

fn main_tf(spec: &str) -> Body {
    let output = rmqgen::compile(spec).unwrap_or_else(|e| panic!("{e}"));
    let text = output
        .bundle
        .get("terraform/main.tf")
        .expect("terraform/main.tf")
        .text()
        .to_string();
    hcl::parse(&text).expect("main.tf parses")
}

fn with_fourth_broker(spec: &str) -> String {
    let mut v: Value = serde_json::from_str(spec).unwrap();
    v["brokers"]
        .as_array_mut()
        .unwrap()
        .push(json!({"name": "rabbitmq-4", "address": "192.168.247.155"}));
    serde_json::to_string_pretty(&v).unwrap()
}

#[test]
fn adding_a_broker_changes_no_existing_host_in_either_provider() {
    let reference = rmqgen::reference_spec();
    for provider in ["libvirt", "proxmox"] {
        let old = with_provider(&reference, provider);
        let new = with_fourth_broker(&old);
        let (old_tf, new_tf) = (main_tf(&old), main_tf(&new));

        let (old_nodes, new_nodes) = (nodes(&old_tf), nodes(&new_tf));
        assert_eq!(old_nodes.len(), 5, "{provider}");
        for (host, entry) in &old_nodes {
            assert_eq!(
                new_nodes.get(host),
                Some(entry),
                "{provider}: host {host} changed"
            );
            for field in ["mac", "address"] {
                assert!(entry.contains(field), "{provider}: {host}: {entry}");
            }
            if provider == "proxmox" {
                assert!(entry.contains("vm_id"), "{provider}: {host}: {entry}");
            }
        }
        let added: Vec<&String> = new_nodes
            .keys()
            .filter(|k| !old_nodes.contains_key(*k))
            .collect();
        assert_eq!(added, ["rabbitmq-4"], "{provider}");

        // Same resources, iterated the same way: per-host instance keys are
        // the node keys, so the only new instances are rabbitmq-4's.
        let (old_res, new_res) = (resources(&old_tf), resources(&new_tf));
        assert_eq!(old_res, new_res, "{provider}");
        assert!(
            old_res
                .values()
                .any(|f| f.as_deref() == Some("local.nodes")),
            "{provider}: no resource iterates local.nodes"
        );
    }
}

#[test]
fn proxmox_vm_ids_are_distinct_and_do_not_depend_on_host_order() {
    let spec = with_provider(&rmqgen::reference_spec(), "proxmox");
    let ids = |spec: &str| -> BTreeMap<String, String> {
        nodes(&main_tf(spec))
            .into_iter()
            .map(|(host, entry)| {
                let id = entry
                    .lines()
                    .find(|l| l.trim_start().starts_with("vm_id"))
                    .unwrap_or_else(|| panic!("{host}: {entry}"))
                    .to_string();
                (host, id.trim().to_string())
            })
            .collect()
    };
    let before = ids(&spec);
    let distinct: std::collections::BTreeSet<&String> = before.values().collect();
    assert_eq!(distinct.len(), before.len(), "{before:?}");
    // Reversing the brokers (and removing the first) moves nobody else.
    let mut v: Value = serde_json::from_str(&spec).unwrap();
    let brokers = v["brokers"].as_array_mut().unwrap();
    brokers.reverse();
    brokers.pop();
    let after = ids(&serde_json::to_string(&v).unwrap());
    for (host, id) in &after {
        assert_eq!(before.get(host), Some(id), "{host}");
    }
    assert_eq!(after.len(), before.len() - 1);
}
