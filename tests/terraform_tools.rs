//! HashiCorp's own code on rmqgen's Terraform module (run with
//! `cargo test --test integration terraform_tools:: -- --ignored`): every example, as a
//! cloud-init and as a NixOS cluster, each with its provider and with its
//! provider switched (libvirt <-> proxmox), is rendered to a temporary
//! directory, and
//!
//! - `tests/hcl/check.mjs` parses every `.tf` file with Terraform's HCL
//!   parser (@cdktf/hcl2json) and compares it byte for byte with what
//!   `terraform fmt` makes of it (@cdktf/hcl-tools); `terraform fmt
//!   -check` runs as well;
//! - `terraform init` and `terraform validate -json` run with the real
//!   providers at the versions `versions.tf` pins (dmacvicar/libvirt,
//!   bpg/proxmox, hashicorp/random), built from source by
//!   `scripts/tf-providers.sh` into a filesystem mirror that a test-only
//!   CLI configuration (`TF_CLI_CONFIG_FILE`) points `terraform init` at:
//!   on those modules, on the warning specs (`tests/warnings/*.json`) and
//!   on a spec whose free-text target settings and secret paths are
//!   hostile text, each for both providers (the libvirt one with
//!   `domain_type: "qemu"` as well). A warning fails the test unless
//!   [`EXPLAINED_WARNINGS`] explains it;
//! - the provider schemas committed in `tests/data` (which
//!   `tests/terraform_module.rs` checks every attribute against) are what
//!   `terraform providers schema -json` prints for those builds.
//!
//! `terraform plan` needs the provider's API: a libvirt daemon (the apply
//! test on the libvirt path does that) or a Proxmox VE endpoint, which CI
//! does not have.
//!
//! The Terraform CLI is `$RMQGEN_TERRAFORM` when set, else `terraform`:
//! scripts/test-all.sh's terraform stage sets it to what
//! `scripts/tf-providers.sh` prints (terraform on PATH, or OpenTofu built
//! from source when the machine has no terraform); the messages name the
//! binary and its version.
//!
//! Needs node and `npm ci --prefix tests/hcl`, terraform (or OpenTofu), go
//! (1.25.8 or later) and python3 (scripts/test-all.sh's terraform stage runs
//! `scripts/tf-providers.sh` and passes its CLI configuration on in
//! `RMQGEN_TF_CLI_CONFIG`; without it the tests run the script, which
//! reuses its cache). A missing prerequisite fails the test when `CI` is
//! set and skips it otherwise.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Instant;

use serde_json::{json, Value};

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
        .env("CHECKPOINT_DISABLE", "1")
        .output()
        .is_ok_and(|o| o.status.success())
}

/// The Terraform CLI: `$RMQGEN_TERRAFORM` (terraform, or OpenTofu built by
/// `scripts/tf-providers.sh`), else `terraform` on PATH.
fn terraform_bin() -> PathBuf {
    std::env::var_os("RMQGEN_TERRAFORM")
        .filter(|v| !v.is_empty())
        .map_or_else(|| PathBuf::from("terraform"), PathBuf::from)
}

/// The CLI with its version, for messages: `terraform (Terraform v1.11.4)`;
/// `None` when it does not run.
fn terraform_version() -> Option<String> {
    static VERSION: OnceLock<Option<String>> = OnceLock::new();
    VERSION
        .get_or_init(|| {
            let bin = terraform_bin();
            let out = Command::new(&bin)
                .arg("version")
                .env("CHECKPOINT_DISABLE", "1")
                .output()
                .ok()
                .filter(|o| o.status.success())?;
            let first = String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .unwrap_or("")
                .trim()
                .to_string();
            let version = format!("{} ({first})", bin.display());
            eprintln!("terraform CLI: {version}");
            Some(version)
        })
        .clone()
}

fn no_terraform() -> String {
    format!(
        "no terraform binary ({} does not run; RMQGEN_TERRAFORM names another)",
        terraform_bin().display()
    )
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
#[ignore = "needs terraform"]
fn terraform_fmt_accepts_every_module() {
    let Some(version) = terraform_version() else {
        unavailable(&no_terraform());
        return;
    };
    let tmp = TempDir::new("fmt");
    for (label, dir) in render_all(tmp.path()) {
        let out = Command::new(terraform_bin())
            .args(["fmt", "-check", "-diff", "-no-color"])
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{label}: {version} fmt would change:\n{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

// ---------------------------------------------------------------------------
// terraform init + validate with the real providers
// ---------------------------------------------------------------------------

/// Warnings `terraform validate` may print, each with why it is no defect:
/// (substring of the summary, explanation). Any other warning fails.
const EXPLAINED_WARNINGS: &[(&str, &str)] = &[];

/// The CLI configuration of the provider mirror: `RMQGEN_TF_CLI_CONFIG`, or
/// what `scripts/tf-providers.sh` prints (building or reusing the
/// providers). `None` (after a notice, or a failure under CI) when
/// terraform or the providers are not available.
fn cli_config() -> Option<PathBuf> {
    static CONFIG: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let found = CONFIG.get_or_init(|| {
        if terraform_version().is_none() {
            return Err(no_terraform());
        }
        if let Some(path) = std::env::var_os("RMQGEN_TF_CLI_CONFIG") {
            return Ok(PathBuf::from(path));
        }
        let start = Instant::now();
        let out = Command::new("bash")
            .arg(root().join("scripts/tf-providers.sh"))
            .output()
            .map_err(|e| format!("scripts/tf-providers.sh: {e}"))?;
        eprint!("{}", String::from_utf8_lossy(&out.stdout));
        if !out.status.success() {
            return Err(format!(
                "scripts/tf-providers.sh failed:\n{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        eprintln!("providers: {:.1} s", start.elapsed().as_secs_f64());
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix("CLI_CONFIG="))
            .map(PathBuf::from)
            .ok_or_else(|| "scripts/tf-providers.sh printed no CLI_CONFIG".into())
    });
    match found {
        Ok(path) => Some(path.clone()),
        Err(reason) => {
            unavailable(reason);
            None
        }
    }
}

/// `terraform ARGS` in `dir` with the mirror's CLI configuration, offline:
/// (success, stdout, stderr).
fn terraform(config: &Path, dir: &Path, args: &[&str]) -> (bool, String, String) {
    let out = Command::new(terraform_bin())
        .args(args)
        .current_dir(dir)
        .env("TF_CLI_CONFIG_FILE", config)
        .env("CHECKPOINT_DISABLE", "1")
        .env("TF_IN_AUTOMATION", "1")
        .env_remove("TF_PLUGIN_CACHE_DIR")
        .env_remove("TF_DATA_DIR")
        .output()
        .unwrap_or_else(|e| panic!("{}: {e}", terraform_bin().display()));
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One `terraform validate -json` diagnostic, as a line.
fn diagnostic(d: &Value) -> String {
    let at = d
        .pointer("/range/filename")
        .and_then(Value::as_str)
        .map(|f| {
            format!(
                " ({f}:{})",
                d.pointer("/range/start/line").unwrap_or(&Value::Null)
            )
        })
        .unwrap_or_default();
    format!(
        "{}: {}{at}: {}",
        d["severity"].as_str().unwrap_or("?"),
        d["summary"].as_str().unwrap_or("?"),
        d["detail"].as_str().unwrap_or("")
    )
}

/// `terraform init` and `terraform validate -json` in a module directory:
/// the problems found (errors, unexplained warnings).
fn validate(config: &Path, dir: &Path) -> Vec<String> {
    let (ok, stdout, stderr) = terraform(
        config,
        dir,
        &["init", "-input=false", "-no-color", "-backend=false"],
    );
    if !ok {
        return vec![format!(
            "{} init failed:\n{stdout}{stderr}",
            terraform_bin().display()
        )];
    }
    let (_, stdout, stderr) = terraform(config, dir, &["validate", "-json", "-no-color"]);
    let report: Value = match serde_json::from_str(&stdout) {
        Ok(v) => v,
        Err(e) => return vec![format!("validate printed no JSON ({e}):\n{stdout}{stderr}")],
    };
    let mut problems = Vec::new();
    for d in report["diagnostics"].as_array().into_iter().flatten() {
        let summary = d["summary"].as_str().unwrap_or("");
        let explained = d["severity"] == "warning"
            && EXPLAINED_WARNINGS.iter().any(|(s, _)| summary.contains(s));
        if !explained {
            problems.push(diagnostic(d));
        }
    }
    if report["valid"] != true && problems.is_empty() {
        problems.push(format!("not valid:\n{stdout}"));
    }
    problems
}

/// The spec with `value` at a JSON pointer whose parent exists.
fn set(doc: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    doc.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("no object at {parent}"))
        .insert(key.to_string(), value);
}

/// The reference spec with hostile text (Terraform's interpolation and
/// directive syntax, quotes, backslashes, line breaks, non-ASCII) in every
/// free-text field that reaches the Terraform module and that validation
/// accepts it in: the target's settings and a secret file path. Each field
/// takes the first value validation accepts; the test fails when a field
/// accepts none.
fn hostile_spec(provider: &str) -> String {
    // Most hostile first; validation refuses Terraform's template syntax
    // and non-ASCII text in these fields, and quotes in paths.
    const VALUES: &[&str] = &[
        "${file(\"/etc/shadow\")}%{ if true }x%{ endif }\"\\'\n",
        "${path.module}%{ for x in [] }x%{ endfor }",
        "v\"m\\' $(id)`id`#;x",
        "secrets/a\\b' $(id)`id`#;c",
    ];
    const FIELDS: &[&str] = &[
        "/target/libvirt/uri",
        "/target/libvirt/pool",
        "/target/libvirt/bridge",
        "/target/proxmox/node",
        "/target/proxmox/bridge",
        "/target/proxmox/datastore",
        "/target/proxmox/snippets_datastore",
        "/rabbitmq/erlang_cookie/path",
    ];
    let mut doc: Value = serde_json::from_str(&rmqgen::reference_spec()).unwrap();
    set(
        &mut doc,
        "/target",
        json!({ "provider": provider, "libvirt": {}, "proxmox": {} }),
    );
    set(
        &mut doc,
        "/rabbitmq/erlang_cookie",
        json!({ "from": "file", "path": "secrets/erlang-cookie" }),
    );
    let mut hostile = 0;
    for field in FIELDS {
        for value in VALUES {
            let mut candidate = doc.clone();
            set(&mut candidate, field, json!(value));
            if rmqgen::compile(&candidate.to_string()).is_ok() {
                eprintln!("hostile-{provider}: {field} = {value:?}");
                doc = candidate;
                hostile += 1;
                break;
            }
        }
    }
    assert!(
        hostile >= 3,
        "validation refused every hostile value: {hostile}"
    );
    serde_json::to_string_pretty(&doc).unwrap()
}

/// The domain type set, nothing else changed.
fn with_domain_type(source: &str, kind: &str) -> String {
    let mut v: Value = serde_json::from_str(source).unwrap();
    let target = v
        .as_object_mut()
        .unwrap()
        .entry("target")
        .or_insert_with(|| json!({}));
    let libvirt = target
        .as_object_mut()
        .unwrap()
        .entry("libvirt")
        .or_insert_with(|| json!({}));
    libvirt["domain_type"] = kind.into();
    serde_json::to_string_pretty(&v).unwrap()
}

/// Every module `terraform validate` checks: the examples' variants, the
/// warning specs and the hostile spec on both providers, and a TCG libvirt
/// variant of the reference spec and of the hostile one.
fn validation_specs() -> Vec<(String, String)> {
    let mut out = variants();
    let dir = root().join("tests/warnings");
    let mut warnings: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    warnings.sort();
    for path in warnings {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let source = std::fs::read_to_string(&path).unwrap();
        for provider in ["libvirt", "proxmox"] {
            out.push((
                format!("warnings-{stem}-{provider}"),
                examples::with_provider(&source, provider),
            ));
        }
    }
    for provider in ["libvirt", "proxmox"] {
        out.push((format!("hostile-{provider}"), hostile_spec(provider)));
    }
    out.push((
        "hostile-libvirt-qemu".into(),
        with_domain_type(&hostile_spec("libvirt"), "qemu"),
    ));
    out.push((
        "reference-libvirt-qemu".into(),
        with_domain_type(&rmqgen::reference_spec(), "qemu"),
    ));
    out
}

#[test]
#[ignore = "needs terraform, go and the Go module proxy (scripts/tf-providers.sh)"]
fn terraform_validate_accepts_every_module_with_the_real_providers() {
    let Some(config) = cli_config() else {
        return;
    };
    let tmp = TempDir::new("tf-validate");
    let start = Instant::now();
    let mut failures = Vec::new();
    let mut count = 0;
    for (label, source) in validation_specs() {
        let output = rmqgen::compile(&source).unwrap_or_else(|e| panic!("{label}: {e}"));
        let target = tmp.path().join(&label);
        output
            .bundle
            .write(&target, &rmqgen::WriteOptions::default())
            .unwrap_or_else(|e| panic!("{label}: {e}"));
        // The files the spec's file secrets name, as the user provides
        // them (`terraform validate` reads a file() whose path is known).
        for secret in &output.plan.secrets {
            if let rmqgen::spec::SecretSource::File { path } = &*secret.source {
                assert!(!path.starts_with('/'), "{label}: absolute {path}");
                let file = target.join("terraform").join(path);
                std::fs::create_dir_all(file.parent().unwrap()).unwrap();
                std::fs::write(&file, "not-a-secret\n").unwrap();
            }
        }
        let one = Instant::now();
        let problems = validate(&config, &target.join("terraform"));
        count += 1;
        eprintln!(
            "{label}: {} ({:.1} s)",
            if problems.is_empty() {
                "valid, no warning"
            } else {
                "PROBLEMS"
            },
            one.elapsed().as_secs_f64()
        );
        if !problems.is_empty() {
            failures.push(format!("{label}:\n  {}", problems.join("\n  ")));
        }
    }
    eprintln!(
        "{} validate: {count} modules in {:.1} s",
        terraform_version().unwrap_or_default(),
        start.elapsed().as_secs_f64()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// The schemas `tests/terraform_module.rs` checks every attribute against
/// are what the providers built at the pinned versions print: regenerated
/// into a scratch directory, byte for byte the committed ones.
#[test]
#[ignore = "needs terraform, go and the Go module proxy (scripts/tf-providers.sh)"]
fn committed_schemas_are_what_the_real_providers_print() {
    if cli_config().is_none() {
        return;
    }
    let tmp = TempDir::new("tf-schemas");
    let out = Command::new("bash")
        .arg(root().join("scripts/tf-providers.sh"))
        .arg("schemas")
        .arg(tmp.path())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "scripts/tf-providers.sh schemas failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let mut names: Vec<String> = std::fs::read_dir(tmp.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 3, "{names:?}");
    for name in names {
        let fresh = std::fs::read_to_string(tmp.path().join(&name)).unwrap();
        let committed = std::fs::read_to_string(root().join("tests/data").join(&name))
            .unwrap_or_else(|e| panic!("tests/data/{name}: {e}"));
        assert!(
            fresh == committed,
            "tests/data/{name} differs from what the provider prints \
             (through {}): run scripts/tf-providers.sh schemas and review the diff",
            terraform_version().unwrap_or_default()
        );
    }
}
