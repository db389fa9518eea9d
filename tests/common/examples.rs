//! The example specs (`examples/*.json`) and the variants of them the
//! Terraform tests render, shared by `terraform_module`,
//! `terraform_tools`, `nix_tools` and `nixos`.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::Value;

/// The paths of `examples/*.json`, sorted.
pub fn example_paths() -> Vec<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    paths
}

/// One example as a cluster of one provisioning on one provider.
pub struct Variant {
    /// The example's file stem (`five-vm`).
    pub stem: String,
    /// `cloud-init` or `nixos`.
    pub provisioning: &'static str,
    /// `target.provider` of `spec` (`libvirt` when the example omits it).
    pub provider: String,
    /// The spec source.
    pub spec: String,
}

/// Every example as a cloud-init and as a NixOS cluster, each with its own
/// provider and then with the provider switched (libvirt <-> proxmox),
/// nothing else changed.
pub fn provider_variants() -> Vec<Variant> {
    let mut out = Vec::new();
    for path in example_paths() {
        let stem = path.file_stem().unwrap().to_str().unwrap().to_string();
        let example = std::fs::read_to_string(&path).unwrap();
        for provisioning in ["cloud-init", "nixos"] {
            let spec = with_provisioning(&example, provisioning);
            let provider = provider_of(&spec);
            let other = if provider == "libvirt" {
                "proxmox"
            } else {
                "libvirt"
            };
            let switched = with_provider(&spec, other);
            out.push(Variant {
                stem: stem.clone(),
                provisioning,
                provider,
                spec,
            });
            out.push(Variant {
                stem: stem.clone(),
                provisioning,
                provider: other.to_string(),
                spec: switched,
            });
        }
    }
    out
}

/// Sets `provisioning`; the NixOS variant leaves `tls` out: rmqgen renders
/// TLS for cloud-init hosts only (RMQ123).
pub fn set_provisioning(spec: &mut Value, provisioning: &str) {
    spec["provisioning"] = provisioning.into();
    if provisioning == "nixos" {
        if let Some(m) = spec.as_object_mut() {
            m.remove("tls");
        }
    }
}

/// The spec with `provisioning` set (see [`set_provisioning`]), nothing
/// else changed.
pub fn with_provisioning(source: &str, provisioning: &str) -> String {
    let mut v: Value = serde_json::from_str(source).unwrap();
    set_provisioning(&mut v, provisioning);
    serde_json::to_string_pretty(&v).unwrap()
}

/// `target.provider`, `libvirt` when the spec leaves it out.
pub fn provider_of(source: &str) -> String {
    let v: Value = serde_json::from_str(source).unwrap();
    v.pointer("/target/provider")
        .and_then(Value::as_str)
        .unwrap_or("libvirt")
        .to_string()
}

/// The spec with `target.provider` set, nothing else changed.
pub fn with_provider(source: &str, provider: &str) -> String {
    let mut v: Value = serde_json::from_str(source).unwrap();
    let obj = v.as_object_mut().unwrap();
    let target = obj
        .entry("target")
        .or_insert_with(|| Value::Object(Default::default()));
    target
        .as_object_mut()
        .unwrap()
        .insert("provider".into(), provider.into());
    serde_json::to_string_pretty(&v).unwrap()
}
