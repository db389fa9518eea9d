//! HashiCorp's own code on rmqgen's Terraform module (run with
//! `cargo test --test integration terraform_tools:: -- --ignored`): every example, as a
//! cloud-init and as a NixOS cluster, each with its provider and with its
//! provider switched (libvirt <-> proxmox), is rendered to a temporary
//! directory, and `tests/hcl/check.mjs` parses every `.tf` file
//! with Terraform's HCL parser (@cdktf/hcl2json) and compares it byte for
//! byte with what `terraform fmt` makes of it (@cdktf/hcl-tools). Where a
//! `terraform` binary is installed, `terraform fmt -check` runs as well.
//!
//! Needs node and `npm ci --prefix tests/hcl` (scripts/test-all.sh does
//! both). A missing prerequisite fails the test when `CI` is set and skips
//! it otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::examples;
use crate::common::temp_dir::TempDir;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Reports a missing prerequisite: a failure under CI, a notice otherwise.
/// Returns true when the test should stop.
fn unavailable(reason: &str) -> bool {
    if std::env::var_os("CI").is_some() {
        panic!("{reason} (CI is set: scripts/test-all.sh installs it)");
    }
    eprintln!("SKIPPED: {reason} (set CI=1 to make this a failure)");
    true
}

fn runs(cmd: &str, arg: &str) -> bool {
    Command::new(cmd)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// `(label, spec source)`: every example as a cloud-init and as a NixOS
/// cluster, each with its provider and with its provider switched, nothing
/// else changed.
fn variants() -> Vec<(String, String)> {
    examples::provider_variants()
        .into_iter()
        .map(|v| {
            (
                format!("{}-{}-{}", v.stem, v.provisioning, v.provider),
                v.spec,
            )
        })
        .collect()
}

/// Renders every variant under `dir/<label>/`; returns the terraform
/// directories.
fn render_all(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    for (label, source) in variants() {
        let output = rmqgen::compile(&source).unwrap_or_else(|e| panic!("{label}: {e}"));
        let target = dir.join(&label);
        output
            .bundle
            .write(&target, &rmqgen::WriteOptions::default())
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        out.push((label, target.join("terraform")));
    }
    out
}

#[test]
#[ignore = "needs node and npm ci --prefix tests/hcl"]
fn hashicorp_parser_and_formatter_accept_every_module() {
    if !runs("node", "--version") {
        unavailable("node is not installed");
        return;
    }
    let hcl = root().join("tests/hcl");
    for package in ["@cdktf/hcl2json", "@cdktf/hcl-tools"] {
        if !hcl.join("node_modules").join(package).is_dir() {
            unavailable(&format!(
                "{package} is not installed (npm ci --prefix tests/hcl)"
            ));
            return;
        }
    }
    let tmp = TempDir::new("hcl");
    let mut failures = Vec::new();
    for (label, dir) in render_all(tmp.path()) {
        let out = Command::new("node")
            .arg(hcl.join("check.mjs"))
            .arg(&dir)
            .current_dir(&hcl)
            .output()
            .unwrap();
        let report = String::from_utf8_lossy(&out.stdout);
        eprintln!("{label}: {}", report.trim_end());
        if !out.status.success() {
            failures.push(format!(
                "{label}:\n{report}{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
#[ignore = "runs terraform fmt where terraform is installed"]
fn terraform_fmt_accepts_every_module() {
    if !runs("terraform", "version") {
        // Terraform is not in Debian's archive nor any registry this
        // project installs from: a notice, never a failure.
        eprintln!("SKIPPED: no terraform binary (the node check covers terraform fmt)");
        return;
    }
    let tmp = TempDir::new("fmt");
    for (label, dir) in render_all(tmp.path()) {
        let out = Command::new("terraform")
            .args(["fmt", "-check", "-diff", "-no-color"])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{label}: terraform fmt would change:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}
