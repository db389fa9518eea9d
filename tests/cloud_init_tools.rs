//! Real-tool checks of the cloud-init user-data (run with
//! `cargo test --test integration cloud_init_tools:: -- --ignored`), of every example
//! rendered as a cloud-init and as a NixOS cluster (whose user-data is the
//! NixOS image's first-boot seed: the host's secrets only):
//! - `cloud-init schema -c` accepts every user-data template as written;
//! - after the substitution Terraform's `templatefile` performs (simulated
//!   here, with known secret values), PyYAML — the parser cloud-init uses —
//!   reads back exactly the files `host_files` lists: every artifact byte for
//!   byte, every secret with its value, owner, mode, append and defer flags;
//! - no secret value appears anywhere in the bundle.
//!
//! A missing tool fails the test when `CI` is set and skips it otherwise.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rmqgen::testing::cloud_init::{host_files, Content};
use serde_json::Value;

use crate::common::examples;
use crate::common::readers::{base64_decode as b64decode, base64_encode};

fn tool_missing(tool: &str) -> bool {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return false;
    }
    if std::env::var_os("CI").is_some() {
        panic!("{tool} is required in CI (scripts/test-all.sh installs it)");
    }
    eprintln!("skipping: {tool} is not installed");
    true
}

/// Every example, compiled as a cloud-init and as a NixOS cluster.
fn examples() -> Vec<(String, rmqgen::Output)> {
    let mut out = Vec::new();
    for path in all_examples() {
        let source = std::fs::read_to_string(&path).expect("read example");
        for provisioning in ["cloud-init", "nixos"] {
            let mut spec: Value = serde_json::from_str(&source).expect("json");
            examples::set_provisioning(&mut spec, provisioning);
            let label = format!("{} ({provisioning})", path.display());
            let output =
                rmqgen::compile(&spec.to_string()).unwrap_or_else(|e| panic!("{label}: {e}"));
            out.push((label, output));
        }
    }
    out
}

fn all_examples() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples"))
            .expect("examples/")
            .map(|e| e.expect("dir entry").path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .collect();
    v.sort();
    v
}

/// Secret values no generator could produce by accident, with characters
/// that would break YAML or a shell if they were pasted in unencoded.
fn secret_values(plan: &rmqgen::Plan) -> BTreeMap<String, String> {
    plan.secrets
        .iter()
        .map(|s| {
            (
                s.tf_name.clone(),
                format!("s3cr3t-{}-\"quote'\\ ${{x}} %{{y}}: #z", s.tf_name),
            )
        })
        .collect()
}

/// What `templatefile` does to the forms rmqgen writes: `$${` -> `${`,
/// `%%{` -> `%{`, and the two secret expressions. Any other template
/// sequence is a bug in the renderer.
fn templatefile(src: &str, vars: &BTreeMap<String, String>) -> String {
    let mut out = String::new();
    let mut rest = src;
    while let Some(i) = rest.find(['$', '%']) {
        out.push_str(&rest[..i]);
        let tail = &rest[i..];
        if let Some(t) = tail.strip_prefix("$${") {
            out.push_str("${");
            rest = t;
        } else if let Some(t) = tail.strip_prefix("%%{") {
            out.push_str("%{");
            rest = t;
        } else if tail.starts_with("%{") {
            panic!(
                "unexpected template directive at: {}",
                &tail[..tail.len().min(40)]
            );
        } else if let Some(t) = tail.strip_prefix("${") {
            // Find the matching close brace (one level of nesting is used).
            let mut depth = 1;
            let mut end = 0;
            for (j, c) in t.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => {
                        depth -= 1;
                        if depth == 0 {
                            end = j;
                            break;
                        }
                    }
                    _ => {}
                }
            }
            let expr = &t[..end];
            out.push_str(&eval(expr, vars));
            rest = &t[end + 1..];
        } else {
            out.push_str(&tail[..1]);
            rest = &tail[1..];
        }
    }
    out.push_str(rest);
    out
}

fn eval(expr: &str, vars: &BTreeMap<String, String>) -> String {
    let arg = expr
        .strip_prefix("base64encode(")
        .and_then(|a| a.strip_suffix(')'))
        .unwrap_or_else(|| panic!("unexpected template expression ${{{expr}}}"));
    let value = if let Some(lit) = arg.strip_prefix('"').and_then(|a| a.strip_suffix('"')) {
        // "VAR=${name}\n"
        let (var, inner) = lit.split_once("=${").expect("VAR=${name}");
        let (name, tail) = inner.split_once('}').expect("closing brace");
        assert_eq!(tail, "\\n", "only a trailing newline escape is expected");
        format!("{var}={}\n", vars[name])
    } else {
        vars.get(arg)
            .unwrap_or_else(|| panic!("unknown template variable {arg}"))
            .clone()
    };
    base64_encode(value.as_bytes())
}

fn yaml_to_json(text: &str) -> Value {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import json, sys, yaml; json.dump(yaml.safe_load(sys.stdin), sys.stdout)",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(text.as_bytes())
        .expect("write yaml");
    let out = child.wait_with_output().expect("python3 output");
    assert!(out.status.success(), "PyYAML rejected:\n{text}");
    serde_json::from_slice(&out.stdout).expect("json from python")
}

#[test]
#[ignore = "real tools: cloud-init, python3-yaml"]
fn every_user_data_passes_cloud_init_schema() {
    if tool_missing("cloud-init") {
        return;
    }
    let dir = std::env::temp_dir().join(format!("rmqgen-ci-schema-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    for (example, out) in examples() {
        let mut seen = 0;
        for (path, artifact) in out
            .bundle
            .iter()
            // The user-data templates; cloud-init/broker/ holds role files
            // only the cloud-init path installs.
            .filter(|(p, _)| p.starts_with("cloud-init/") && p.ends_with(".yaml.tftpl"))
        {
            let file = dir.join(format!(
                "{}-{}",
                out.plan.provisioning == rmqgen::spec::Provisioning::Nixos,
                path.replace('/', "_")
            ));
            std::fs::write(&file, &artifact.bytes).expect("write");
            let run = Command::new("cloud-init")
                .args(["schema", "-c"])
                .arg(&file)
                .output()
                .expect("cloud-init schema");
            let text = format!(
                "{}{}",
                String::from_utf8_lossy(&run.stdout),
                String::from_utf8_lossy(&run.stderr)
            );
            assert!(
                run.status.success() && text.contains("Valid cloud-config"),
                "{example}: {path}: {text}"
            );
            seen += 1;
        }
        assert_eq!(
            seen,
            out.plan.hosts.len(),
            "{example}: one user-data per host"
        );
    }
    std::fs::remove_dir_all(&dir).expect("cleanup");
}

#[test]
#[ignore = "real tools: python3-yaml"]
fn user_data_writes_exactly_the_host_files() {
    if tool_missing("python3") {
        return;
    }
    for (example, out) in examples() {
        let vars = secret_values(&out.plan);
        for host in &out.plan.hosts {
            let path = format!("cloud-init/{}.yaml.tftpl", host.name);
            let template = out.bundle.get(&path).expect("user-data").text();
            let doc = yaml_to_json(&templatefile(template, &vars));
            if out.plan.provisioning == rmqgen::spec::Provisioning::Nixos {
                // The seed: its secrets, nothing else.
                let keys: Vec<&String> = doc.as_object().expect("a mapping").keys().collect();
                assert_eq!(keys, ["write_files"], "{example}: {path}");
            } else {
                assert_eq!(doc["hostname"], host.name.as_str());
            }
            let written = doc["write_files"].as_array().expect("write_files");
            let expected = host_files(&out.plan, &out.roles, host);
            assert_eq!(written.len(), expected.len(), "{path}");
            for (w, e) in written.iter().zip(&expected) {
                assert_eq!(w["path"], e.path.as_str(), "{path}");
                assert_eq!(w["owner"], format!("{}:{}", e.owner, e.group).as_str());
                assert_eq!(w["permissions"], format!("{:04o}", e.mode).as_str());
                assert_eq!(w["append"].as_bool().unwrap_or(false), e.append);
                assert_eq!(w["defer"].as_bool().unwrap_or(false), e.defer);
                let content = w["content"].as_str().expect("content");
                match &e.content {
                    Content::Text(text) => {
                        assert!(w.get("encoding").is_none());
                        assert_eq!(content, text, "{path}: {}", e.path);
                    }
                    Content::Secret {
                        template_var,
                        env_var,
                        ..
                    } => {
                        assert_eq!(w["encoding"], "b64");
                        let decoded = String::from_utf8(b64decode(content)).expect("utf-8");
                        let value = &vars[template_var];
                        let want = match env_var {
                            Some(var) => format!("{var}={value}\n"),
                            None => value.clone(),
                        };
                        assert_eq!(decoded, want, "{path}: {}", e.path);
                    }
                }
            }
        }
        // rmqgen never sees secret values: none can be in the bundle.
        for (path, artifact) in out.bundle.iter() {
            for value in vars.values() {
                assert!(
                    !artifact.text().contains(value.as_str()),
                    "{path} contains a secret"
                );
            }
        }
    }
}
