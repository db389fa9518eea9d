//! The Nix side, checked with the real Nix tools (`nix-instantiate`,
//! `nix flake check`). Ignored by default; run them with
//!
//! ```text
//! cargo test --test integration nix_tools:: -- --ignored
//! ```
//!
//! Without Nix installed each test prints a notice and passes, unless the
//! environment variable `CI` is set: then a missing tool is a failure
//! (`scripts/test-all.sh` installs Debian's `nix-bin`).
//!
//! What is checked:
//! - every module under `modules/`, every `nix/` file and every generated
//!   `.nix` of every example (rendered as a NixOS cluster) parses;
//! - the repository flake passes `nix flake check --no-build`, offline (it
//!   has no inputs);
//! - hostile strings written by `nix::string` (src/render/nix.rs) evaluate back
//!   to themselves;
//! - every generated host file evaluates (with `lib.mkDefault`/`mkForce` as
//!   the identity, `nix/stub-lib.nix`) to exactly the value tree rmqgen
//!   built, so printing and escaping lose nothing, and so does the
//!   first-boot image's `image.nix`;
//! - rmqgen's modules evaluated as NixOS would (`nix/eval-files.nix`) on
//!   rmqgen's own small module system (`nix/module-system`, so that CI,
//!   which cannot fetch nixpkgs, checks them for real) and, with
//!   `RMQGEN_NIXPKGS_LIB` pointing at nixpkgs' `lib/`, on nixpkgs' lib as
//!   well, which must give the same results: the role files they install
//!   are those cloud-init writes, the unsafe settings are refused or warned
//!   about, required options have examples, and the own module system
//!   refuses what nixpkgs' lib refuses;
//! - with `RMQGEN_NIXPKGS` pointing at a nixpkgs checkout, the role modules
//!   are evaluated against nixpkgs' real rabbitmq, haproxy and keepalived
//!   modules (`nix/eval-roles.nix`), and the settings they produce are
//!   compared with the cloud-init artifacts.

use std::path::{Path, PathBuf};
use std::process::Command;

use rmqgen::testing::nix::{self, AttrPath, Entry, Value, HOSTILE};

use crate::common::temp_dir::TempDir;
use crate::common::{examples, iproute2_unstored, keepalived_conf, rabbitmq_conf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

/// The Nix tools, or `None` (after a notice) when they are missing outside CI.
fn nix_instantiate() -> Option<PathBuf> {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join("nix-instantiate"))
            .find(|p| p.is_file())
    });
    match found {
        Some(p) => Some(p),
        None if std::env::var_os("CI").is_some() => {
            panic!("nix-instantiate not found, and CI is set: install nix-bin")
        }
        None => {
            eprintln!("notice: nix-instantiate not found; skipping (install Debian's nix-bin)");
            None
        }
    }
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}):\n{}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// `nix-instantiate --parse` on one file (no daemon needed).
fn parse(tool: &Path, file: &Path) {
    run(Command::new(tool)
        .args(["--parse", "--store", "dummy://"])
        .arg(file));
}

/// `nix-instantiate --eval --strict --json` of an expression.
fn eval_json(tool: &Path, dir: &Path, expr: &str) -> serde_json::Value {
    let out = run(Command::new(tool)
        .current_dir(dir)
        .args(["--eval", "--strict", "--json", "--store", "dummy://", "-E"])
        .arg(expr));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

fn nix_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            nix_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "nix") {
            out.push(path);
        }
    }
}

/// Every example, rendered as a NixOS cluster.
fn nixos_examples() -> Vec<(String, rmqgen::Output)> {
    let mut out = Vec::new();
    for path in examples::example_paths() {
        let mut spec: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        examples::set_provisioning(&mut spec, "nixos");
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        match rmqgen::compile(&spec.to_string()) {
            Ok(o) => out.push((stem, o)),
            Err(e) => panic!("{stem} as NixOS: {e}"),
        }
    }
    out
}

#[test]
#[ignore = "needs Nix: cargo test --test integration nix_tools:: -- --ignored"]
fn modules_and_helpers_parse() {
    let Some(tool) = nix_instantiate() else {
        return;
    };
    let mut files = vec![Path::new(ROOT).join("flake.nix")];
    nix_files(&Path::new(ROOT).join("modules"), &mut files);
    nix_files(&Path::new(ROOT).join("nix"), &mut files);
    assert!(files.len() >= 5, "{files:?}");
    for f in &files {
        parse(&tool, f);
    }
}

#[test]
#[ignore = "needs Nix: cargo test --test integration nix_tools:: -- --ignored"]
fn generated_nix_parses() {
    let Some(tool) = nix_instantiate() else {
        return;
    };
    for (example, output) in nixos_examples() {
        let dir = TempDir::new("parse");
        output
            .bundle
            .write(dir.path(), &Default::default())
            .unwrap();
        let mut files = Vec::new();
        nix_files(&dir.path().join("nixos"), &mut files);
        assert!(
            files.len() > output.plan.hosts.len(),
            "{example}: {files:?}"
        );
        for f in &files {
            parse(&tool, f);
        }
    }
}

#[test]
#[ignore = "needs Nix: cargo test --test integration nix_tools:: -- --ignored"]
fn repository_flake_checks_offline() {
    let Some(_) = nix_instantiate() else { return };
    // A copy of just the flake's files: a flake inside a Git work tree sees
    // only tracked files, and `path:` of the work tree would copy target/.
    let dir = TempDir::new("flake");
    std::fs::copy(
        Path::new(ROOT).join("flake.nix"),
        dir.path().join("flake.nix"),
    )
    .unwrap();
    for sub in ["modules", "nix"] {
        let mut files = Vec::new();
        nix_files(&Path::new(ROOT).join(sub), &mut files);
        for f in files {
            let rel = f.strip_prefix(ROOT).unwrap();
            std::fs::create_dir_all(dir.path().join(rel).parent().unwrap()).unwrap();
            std::fs::copy(&f, dir.path().join(rel)).unwrap();
        }
    }
    let out = run(Command::new("nix")
        .args([
            "--extra-experimental-features",
            "nix-command flakes",
            "flake",
            "show",
            "--json",
        ])
        .arg(format!("path:{}", dir.path().display())));
    let show: serde_json::Value = serde_json::from_str(&out).unwrap();
    for module in ["broker", "loadBalancer", "keepalived", "default"] {
        assert!(
            show["nixosModules"][module].is_object(),
            "nixosModules.{module} missing: {show}"
        );
    }
    run(Command::new("nix")
        .args([
            "--extra-experimental-features",
            "nix-command flakes",
            "flake",
            "check",
            "--no-build",
            "--no-write-lock-file",
        ])
        .arg(format!("path:{}", dir.path().display())));
}

#[test]
#[ignore = "needs Nix: cargo test --test integration nix_tools:: -- --ignored"]
fn hostile_strings_evaluate_to_themselves() {
    let Some(tool) = nix_instantiate() else {
        return;
    };
    let dir = TempDir::new("strings");
    // Each text as an attribute value, as an attribute name and in a list,
    // at several depths.
    let entries: Vec<Entry> = HOSTILE
        .iter()
        .enumerate()
        .map(|(i, s)| {
            Entry::new(
                &format!("s{i}"),
                Value::Attrs(vec![
                    Entry::new("value", *s),
                    Entry::new("list", nix::strings([*s, *s])),
                    Entry::segments(AttrPath::new("name", [(*s).to_string()]), true),
                ]),
            )
        })
        .collect();
    let value = Value::Attrs(entries);
    let file = dir.path().join("strings.nix");
    std::fs::write(&file, value.print(0) + "\n").unwrap();
    parse(&tool, &file);
    let got = eval_json(&tool, dir.path(), "import ./strings.nix");
    assert_eq!(got, value.to_json());
}

#[test]
#[ignore = "needs Nix: cargo test --test integration nix_tools:: -- --ignored"]
fn host_files_evaluate_to_the_rendered_values() {
    let Some(tool) = nix_instantiate() else {
        return;
    };
    let stub = Path::new(ROOT).join("nix/stub-lib.nix");
    for (example, output) in nixos_examples() {
        let dir = TempDir::new("hosts");
        output
            .bundle
            .write(dir.path(), &Default::default())
            .unwrap();
        for host in &output.plan.hosts {
            let expected = rmqgen::testing::nixos::host_module(&output.plan, &output.roles, host)
                .unwrap()
                .to_json();
            let got = eval_json(
                &tool,
                dir.path(),
                &format!(
                    "import ./nixos/{}.nix {{ lib = import {}; }}",
                    host.name,
                    stub.display()
                ),
            );
            assert_eq!(got, expected, "{example}: {}", host.name);
        }
        // The first-boot image's own module, likewise.
        let got = eval_json(&tool, dir.path(), "import ./nixos/image.nix { }");
        assert_eq!(
            got,
            rmqgen::testing::nixos::image_module().to_json(),
            "{example}: image.nix"
        );
    }
}

/// A nixpkgs checkout (or any directory with nixpkgs' `lib/` and the
/// rabbitmq, haproxy and keepalived modules under `nixos/modules/`), from
/// `RMQGEN_NIXPKGS`. nixpkgs cannot be fetched in CI, so this test is
/// skipped there unless one is provided.
fn nixpkgs() -> Option<PathBuf> {
    match std::env::var_os("RMQGEN_NIXPKGS") {
        Some(p) => Some(PathBuf::from(p)),
        None => {
            eprintln!("notice: RMQGEN_NIXPKGS is not set; skipping the evaluation against nixpkgs");
            None
        }
    }
}

fn eval_roles(
    tool: &Path,
    nixpkgs: &Path,
    host_file: &Path,
    rabbitmq_version: &str,
) -> serde_json::Value {
    eval_host(
        "eval-roles.nix",
        tool,
        ("nixpkgs", nixpkgs),
        host_file,
        rabbitmq_version,
    )
}

/// `nix/<script>` evaluated strictly to JSON for one host module file,
/// with `input` (nixpkgs or its lib) as its first argument.
fn eval_host(
    script: &str,
    tool: &Path,
    input: (&str, &Path),
    host_file: &Path,
    rabbitmq_version: &str,
) -> serde_json::Value {
    let out = run(Command::new(tool)
        .args(["--eval", "--strict", "--json", "--store", "dummy://"])
        .arg(Path::new(ROOT).join("nix").join(script))
        .arg("--arg")
        .arg(input.0)
        .arg(input.1)
        .arg("--arg")
        .arg("host")
        .arg(host_file)
        .args(["--argstr", "rabbitmqVersion", rabbitmq_version]));
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"))
}

/// The role modules evaluated with nixpkgs' own service modules produce
/// the cloud-init artifacts' settings: the rabbitmq.conf nixpkgs writes
/// has the rendered keys and values, its haproxy.cfg ends with the
/// rendered text, its keepalived.conf has every rendered directive with
/// the same value, and no assertion fails.
#[test]
#[ignore = "needs Nix and RMQGEN_NIXPKGS: cargo test --test integration nix_tools:: -- --ignored"]
fn roles_against_nixpkgs() {
    let Some(tool) = nix_instantiate() else {
        return;
    };
    let Some(nixpkgs) = nixpkgs() else { return };
    for (example, output) in nixos_examples() {
        let dir = TempDir::new("roles");
        output
            .bundle
            .write(dir.path(), &Default::default())
            .unwrap();
        let text = |p: &str| output.bundle.get(p).unwrap().text().to_string();
        let version = format!("{}.0", output.plan.rabbitmq.version);
        for host in &output.plan.hosts {
            let at = format!("{example}: {}", host.name);
            let file = dir.path().join(format!("nixos/{}.nix", host.name));
            let got = eval_roles(&tool, &nixpkgs, &file, &version);
            assert_eq!(got["assertions"], serde_json::json!([]), "{at}");
            if let Some(r) = got["rabbitmq"].as_object().filter(|r| !r.is_empty()) {
                assert_eq!(
                    rabbitmq_conf(r["conf"].as_str().unwrap()),
                    rabbitmq_conf(&text("rabbitmq/rabbitmq.conf")),
                    "{at}: rabbitmq.conf"
                );
                let plugins = |s: &str| -> Vec<String> {
                    s.trim()
                        .trim_start_matches('[')
                        .trim_end_matches('.')
                        .trim_end_matches(']')
                        .split(',')
                        .map(|p| p.trim().to_string())
                        .collect()
                };
                assert_eq!(
                    plugins(r["enabledPlugins"].as_str().unwrap()),
                    plugins(&text("rabbitmq/enabled_plugins")),
                    "{at}"
                );
                assert_eq!(r["definitions"]["text"], text("rabbitmq/definitions.json"));
                assert_eq!(r["definitions"]["mode"], "0640");
                assert_eq!(r["definitions"]["group"], "rabbitmq");
                let cookie = output.plan.secret("erlang-cookie").unwrap().install_path();
                assert_eq!(
                    r["loadCredential"],
                    serde_json::json!([format!("erlang-cookie:{cookie}")]),
                    "{at}"
                );
                assert!(r["preStart"]
                    .as_str()
                    .unwrap()
                    .contains("install -m 0400 \"$CREDENTIALS_DIRECTORY/erlang-cookie\""));
                // On every broker, as cloud-init's timer is.
                let b = &r["bootstrap"];
                assert_eq!(
                    b["serviceConfig"]["ExecStart"]
                        .as_str()
                        .map(bootstrap_script),
                    Some(text("bootstrap/queue-ha-policy.sh").as_str()),
                    "{at}"
                );
                assert_eq!(b["serviceConfig"]["Type"], "oneshot");
                assert_eq!(
                    r["bootstrapTimer"]["wantedBy"],
                    serde_json::json!(["timers.target"])
                );
                continue;
            }
            let h = &got["haproxy"];
            let rendered = text(&format!("haproxy/{}/haproxy.cfg", host.name));
            // HAProxy runs on the rendered file, installed unchanged at the
            // Debian path; nixpkgs' copy (its `global` lines, then the
            // text) is only what its own checks test, not installed.
            assert_eq!(h["file"]["text"], rendered, "{at}");
            assert_eq!(h["file"]["mode"], "0644", "{at}");
            assert_eq!(h["etcHaproxyCfgEnabled"], false, "{at}");
            let config = h["config"].as_str().unwrap();
            assert!(config.ends_with(&format!("{rendered}\n")), "{at}: {config}");
            let start = h["serviceConfig"]["ExecStart"].as_str().unwrap();
            assert!(
                start.ends_with(" -f /etc/haproxy/haproxy.cfg -p /run/haproxy/haproxy.pid"),
                "{at}: {start}"
            );
            let pre = h["serviceConfig"]["ExecStartPre"].as_array().unwrap();
            assert!(
                pre.iter().any(|c| c
                    .as_str()
                    .unwrap()
                    .ends_with("/bin/haproxy -c -q -f /etc/haproxy/haproxy.cfg")),
                "{at}: {pre:?}"
            );
            assert_eq!(got["sysctl"]["net.ipv4.ip_nonlocal_bind"], 1, "{at}");
            let k = &got["keepalived"];
            let nix_conf = keepalived_conf(&iproute2_unstored(k["conf"].as_str().unwrap()));
            let cloud_conf =
                keepalived_conf(&text(&format!("keepalived/{}/keepalived.conf", host.name)));
            for (key, values) in &cloud_conf {
                assert_eq!(nix_conf.get(key), Some(values), "{at}: keepalived {key}");
            }
            let extra: Vec<&String> = nix_conf
                .keys()
                .filter(|k| !cloud_conf.contains_key(*k))
                .collect();
            // nixpkgs repeats the script user inside vrrp_script.
            assert!(extra.iter().all(|k| *k == "user"), "{at}: {extra:?}");
            let script = text("keepalived/check-haproxy.sh");
            assert_eq!(k["checkScript"]["text"], script, "{at}");
            assert_eq!(k["checkScript"]["mode"], "0755");
            let reset = text("keepalived/rmqgen-reset-vip-connections.sh");
            assert_eq!(k["resetScript"]["text"], reset, "{at}");
            assert_eq!(k["resetScript"]["mode"], "0755");
            assert!(got["users"]
                .as_array()
                .unwrap()
                .contains(&"keepalived_script".into()));
            // The rendered ruleset admits VRRP from the peers only;
            // nixpkgs' openFirewall would accept it from anywhere.
            assert_eq!(got["firewallCommands"], "", "{at}");
            // As the cloud-init drop-in: a keepalived gone without
            // shutting down takes the VIP with it, then restarts.
            let dropin = text("keepalived/keepalived.service.d/rmqgen.conf");
            let directive = |name: &str| -> Vec<String> {
                dropin
                    .lines()
                    .filter_map(|l| l.strip_prefix(&format!("{name}=")))
                    .map(str::to_string)
                    .collect()
            };
            let unit = &k["serviceConfig"];
            let stop_post: Vec<String> = unit["ExecStopPost"]
                .as_array()
                .unwrap_or_else(|| panic!("{at}: no keepalived ExecStopPost: {unit}"))
                .iter()
                .map(|c| {
                    let c = iproute2_unstored(c.as_str().unwrap());
                    match c.strip_prefix("-/bin/ip ") {
                        Some(args) => format!("-/sbin/ip {args}"),
                        None => c,
                    }
                })
                .collect();
            assert_eq!(stop_post, directive("ExecStopPost"), "{at}");
            let (vip, net) = (&output.plan.vip, &output.plan.network);
            assert_eq!(
                stop_post,
                [
                    format!(
                        "-/sbin/ip address del {vip}/{} dev {}",
                        net.prefix, net.interface
                    ),
                    "-/etc/keepalived/rmqgen-reset-vip-connections.sh".to_string(),
                ],
                "{at}"
            );
            assert_eq!(unit["Restart"], "always", "{at}");
            for key in ["Restart", "RestartSec"] {
                assert_eq!(directive(key), [unit[key].as_str().unwrap()], "{at}: {key}");
            }
        }
    }
    // The version check: a broker rendered for 4.2 refuses a 3.13 package.
    let (_, output) = nixos_examples()
        .into_iter()
        .find(|(e, _)| e == "five-vm-nixos")
        .unwrap();
    let dir = TempDir::new("version");
    output
        .bundle
        .write(dir.path(), &Default::default())
        .unwrap();
    let got = eval_roles(
        &tool,
        &nixpkgs,
        &dir.path().join("nixos/rabbitmq-1.nix"),
        "3.13.7",
    );
    let messages = got["assertions"].to_string();
    assert!(
        messages.contains("rendered for the 4.2 series"),
        "{messages}"
    );
}

/// The module systems the module checks below run on: rmqgen's own
/// (`nix/module-system`, always: nixpkgs cannot be fetched in CI), and
/// nixpkgs' `lib/` from `RMQGEN_NIXPKGS_LIB` (else `RMQGEN_NIXPKGS/lib`)
/// when one is given, which must then give the same results.
fn module_libs() -> Vec<(&'static str, PathBuf)> {
    let mut libs = vec![(
        "rmqgen's nix/module-system",
        Path::new(ROOT).join("nix/module-system"),
    )];
    let nixpkgs = std::env::var_os("RMQGEN_NIXPKGS_LIB")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("RMQGEN_NIXPKGS").map(|p| PathBuf::from(p).join("lib")));
    match nixpkgs {
        Some(p) => libs.push(("nixpkgs' lib", p)),
        None => eprintln!(
            "notice: RMQGEN_NIXPKGS_LIB (nixpkgs' lib/) is not set; \
             the module checks run on rmqgen's own module system only"
        ),
    }
    libs
}

/// `nix/eval-files.nix` of one host module file: what rmqgen's modules
/// install and refuse, with stand-ins for the rest of NixOS.
fn eval_files(
    tool: &Path,
    lib: &Path,
    host_file: &Path,
    rabbitmq_version: &str,
) -> serde_json::Value {
    eval_host(
        "eval-files.nix",
        tool,
        ("lib", lib),
        host_file,
        rabbitmq_version,
    )
}

/// One source per role file: every role file the cloud-init user-data of a
/// host writes is, on the same host provisioned with NixOS, either
/// installed by rmqgen's modules at the same path with the same bytes,
/// mode, owner and group (haproxy.cfg too, which HAProxy is started on;
/// mode and owners reach the modules from the role file's placement, as
/// their `files.*` options),
/// or handed to a nixpkgs service as the same text (the bootstrap
/// script), or replaced by NixOS's own
/// mechanism for it (the drop-ins, sysctl, sysusers and /etc/hosts, whose
/// settings `tests/nixos.rs` and `roles_against_nixpkgs` compare).
///
/// Byte for byte, with no mapping: the scripts are `#!/bin/sh` and find
/// their tools on a PATH that covers Debian and NixOS alike.
#[test]
#[ignore = "needs Nix: cargo test --test integration nix_tools:: -- --ignored"]
fn role_files_are_byte_identical_on_both_paths() {
    use rmqgen::testing::cloud_init::{host_files, Content, APT_PREFERENCES, POLICY_RC_D};
    let Some(tool) = nix_instantiate() else {
        return;
    };
    let libs = module_libs();
    // Replaced by NixOS's own settings, not installed as files.
    const NATIVE: &[&str] = &[
        "/etc/hosts",
        "/etc/systemd/system/haproxy.service.d/rmqgen.conf",
        "/etc/systemd/system/keepalived.service.d/rmqgen.conf",
        "/etc/sysctl.d/60-rmqgen-load-balancer.conf",
        "/etc/sysusers.d/rmqgen-keepalived.conf",
    ];
    let mut identical = std::collections::BTreeSet::new();
    for path in examples::example_paths() {
        let example = path.file_stem().unwrap().to_string_lossy().into_owned();
        let source = std::fs::read_to_string(&path).unwrap();
        let mut spec: serde_json::Value = serde_json::from_str(&source).unwrap();
        examples::set_provisioning(&mut spec, "nixos");
        let nixos = rmqgen::compile(&spec.to_string()).unwrap();
        // The keepalived check's default interval follows the hosts'
        // keepalived (platform::script_timing): whole seconds on NixOS,
        // maybe fractions on the spec's Debian release. The files are
        // compared at NixOS's interval.
        let interval = nixos.plan.keepalived.check_interval.millis();
        spec["keepalived"]["check_interval_ms"] = interval.get().into();
        spec["provisioning"] = "cloud-init".into();
        let cloud = rmqgen::compile(&spec.to_string()).unwrap();
        let dir = TempDir::new("files");
        nixos.bundle.write(dir.path(), &Default::default()).unwrap();
        // What only cloud-init needs: its package-install guards and the
        // units and series check the NixOS modules have their own of.
        let cloud_only: std::collections::BTreeSet<&str> = cloud
            .roles
            .broker
            .cloud_init
            .iter()
            .map(|f| f.path.as_str())
            .chain([POLICY_RC_D, APT_PREFERENCES])
            .collect();
        for host in &cloud.plan.hosts {
            let at = format!("{example}: {}", host.name);
            let results: Vec<serde_json::Value> = libs
                .iter()
                .map(|(_, lib)| {
                    eval_files(
                        &tool,
                        lib,
                        &dir.path().join(format!("nixos/{}.nix", host.name)),
                        &format!("{}.0", nixos.plan.rabbitmq.version),
                    )
                })
                .collect();
            // Both module systems make the same of every host.
            for ((name, _), result) in libs.iter().zip(&results).skip(1) {
                assert_eq!(result, &results[0], "{at}: {name} and {}", libs[0].0);
            }
            let got = &results[0];
            assert_eq!(got["assertions"], serde_json::json!([]), "{at}");
            assert_eq!(got["warnings"], serde_json::json!([]), "{at}");
            let etc = got["etc"].as_object().unwrap();
            for file in host_files(&cloud.plan, &cloud.roles, host) {
                let Content::Text(text) = &file.content else {
                    continue;
                };
                let p = file.path.as_str();
                if NATIVE.contains(&p) || cloud_only.contains(p) {
                    assert!(!etc.contains_key(p), "{at}: {p} is NixOS's own");
                    continue;
                }
                if p == rmqgen::plan::paths::NFTABLES_CONF {
                    // The host firewall: networking.nftables takes the
                    // same text, and NixOS's own firewall is off.
                    assert_eq!(got["nftables"]["ruleset"], text.as_str(), "{at}: {p}");
                    assert_eq!(got["nftables"]["enable"], true, "{at}: {p}");
                    assert_eq!(got["firewallEnable"], false, "{at}: {p}");
                    identical.insert(format!("{p} (networking.nftables.ruleset)"));
                    continue;
                }
                if p == "/etc/haproxy/haproxy.cfg" {
                    // nixpkgs' module gets the same text for its checks.
                    assert_eq!(got["haproxyConfig"], text.as_str(), "{at}: {p}");
                }
                if file.mode & 0o111 != 0 && p.starts_with("/usr/local/sbin/") {
                    // The bootstrap: a unit on every broker, as on the
                    // cloud-init path.
                    assert_eq!(
                        got["bootstrapStart"].as_str().map(bootstrap_script),
                        Some(text.as_str()),
                        "{at}: {p}"
                    );
                    identical.insert(format!("{p} (the bootstrap unit's ExecStart)"));
                    // Each run's wait: the cloud-init unit's, as rendered.
                    let unit = cloud
                        .roles
                        .broker
                        .cloud_init
                        .iter()
                        .find(|f| f.path == rmqgen::plan::paths::BOOTSTRAP_SERVICE)
                        .unwrap_or_else(|| panic!("{at}: no cloud-init bootstrap unit"));
                    let timeout = unit
                        .contents
                        .lines()
                        .find_map(|l| l.strip_prefix("Environment=RMQGEN_BOOTSTRAP_TIMEOUT_S="))
                        .unwrap_or_else(|| panic!("{at}: the cloud-init unit sets no wait"));
                    assert_eq!(
                        got["bootstrapEnvironment"]["RMQGEN_BOOTSTRAP_TIMEOUT_S"], timeout,
                        "{at}: the bootstrap's wait"
                    );
                    continue;
                }
                let installed = etc
                    .get(p)
                    .unwrap_or_else(|| panic!("{at}: NixOS does not install {p}"));
                assert_eq!(installed["text"], text.as_str(), "{at}: {p}");
                assert_eq!(installed["mode"], format!("{:04o}", file.mode), "{at}: {p}");
                // Named as the placement names them: the host file sets
                // the modules' `files.*` options from it (no "+0", the
                // NixOS default a module's own copy would leave).
                assert_eq!(installed["user"], file.owner.as_str(), "{at}: {p}");
                assert_eq!(installed["group"], file.group.as_str(), "{at}: {p}");
                identical.insert(p.to_string());
            }
        }
    }
    // Every role file that can be is a file on both paths.
    for p in [
        "/etc/rabbitmq/rabbitmq.conf",
        "/etc/rabbitmq/enabled_plugins",
        "/etc/rabbitmq/definitions.json",
        "/etc/keepalived/keepalived.conf",
        "/etc/keepalived/check-haproxy.sh",
        "/etc/keepalived/rmqgen-reset-vip-connections.sh",
        "/etc/haproxy/haproxy.cfg",
        "/etc/nftables.conf (networking.nftables.ruleset)",
    ] {
        assert!(identical.contains(p), "{p} never compared: {identical:?}");
    }
    eprintln!("identical on both paths: {identical:?}");
}

/// A NixOS module file of `text` in `dir`, evaluated with rmqgen's modules.
fn eval_module(tool: &Path, lib: &Path, dir: &Path, name: &str, text: &str) -> serde_json::Value {
    let file = dir.join(format!("{name}.nix"));
    std::fs::write(&file, text).unwrap();
    eval_files(tool, lib, &file, "4.2.5")
}

fn messages(v: &serde_json::Value) -> String {
    v.as_array()
        .unwrap()
        .iter()
        .map(|m| m.as_str().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// The modules used on their own from a user's flake: the mistakes that
/// used to evaluate into a broken host are refused or warned about, and
/// nothing opens a port unless asked (the nixpkgs convention).
#[test]
#[ignore = "needs Nix: cargo test --test integration nix_tools:: -- --ignored"]
fn modules_alone_refuse_or_warn_about_unsafe_settings() {
    let Some(tool) = nix_instantiate() else {
        return;
    };
    for (name, lib) in module_libs() {
        eprintln!("on {name}");
        modules_alone_on(&tool, &lib);
    }
}

fn modules_alone_on(tool: &Path, lib: &Path) {
    let dir = TempDir::new("alone");
    let eval = |name: &str, text: &str| eval_module(tool, lib, dir.path(), name, text);
    let keepalived = |extra: &str| {
        format!(
            "{{ services.rmqgen.keepalived = {{ enable = true; interface = \"ens3\"; \
             virtualIp = \"10.0.0.10\"; prefixLength = 24; {extra} }}; }}"
        )
    };

    // keepalived without a check script: evaluates, but warns that nothing
    // tracks HAProxy; with one, no warning.
    let got = eval(
        "ka-no-check",
        &keepalived("virtualRouterId = 51; priority = 150;"),
    );
    assert_eq!(messages(&got["assertions"]), "");
    assert!(
        messages(&got["warnings"]).contains("no track script watches HAProxy"),
        "{got}"
    );
    let got = eval(
        "ka-check",
        &keepalived(
            "virtualRouterId = 51; priority = 150; check.script = \"#!/bin/bash\\nexit 0\\n\";",
        ),
    );
    assert_eq!(got["warnings"], serde_json::json!([]), "{got}");
    assert_eq!(messages(&got["assertions"]), "");
    assert_eq!(got["firewall"], serde_json::json!([]));

    // keepalived with neither the typed instance nor a configuration.
    let got = eval("ka-nothing", &keepalived(""));
    assert!(
        messages(&got["assertions"]).contains("needs virtualRouterId and priority"),
        "{got}"
    );

    // A rendered keepalived.conf that tracks the check script, without it.
    let got = eval(
        "ka-text-no-check",
        &keepalived(
            "configText = ''\n  vrrp_script chk { script \"/etc/keepalived/check-haproxy.sh\" }\n'';",
        ),
    );
    assert!(
        messages(&got["assertions"]).contains("check.script is not set"),
        "{got}"
    );

    // A rendered keepalived.conf whose notify hooks run the reset script,
    // without it.
    let got = eval(
        "ka-text-no-reset",
        &keepalived(
            "configText = ''\n  notify_backup \"/etc/keepalived/rmqgen-reset-vip-connections.sh\" root\n'';",
        ),
    );
    assert!(
        messages(&got["assertions"]).contains("resetScript is not set"),
        "{got}"
    );

    // The load balancer: configuration as text, as a file, or refused.
    std::fs::write(dir.path().join("haproxy.cfg"), "global\n    maxconn 10\n").unwrap();
    let got = eval(
        "lb-file",
        "{ services.rmqgen.loadBalancer = { enable = true; configFile = ./haproxy.cfg; \
         frontendPorts = [ 5672 ]; }; }",
    );
    assert_eq!(messages(&got["assertions"]), "");
    assert_eq!(got["haproxyConfig"], "global\n    maxconn 10\n");
    assert_eq!(
        got["firewall"],
        serde_json::json!([]),
        "openFirewall is opt-in"
    );
    let got = eval(
        "lb-open",
        "{ services.rmqgen.loadBalancer = { enable = true; config = \"global\\n\"; \
         frontendPorts = [ 5672 ]; openFirewall = true; }; }",
    );
    assert_eq!(messages(&got["assertions"]), "");
    assert_eq!(got["firewall"], serde_json::json!([5672]));
    for (name, text) in [
        ("lb-none", "{ services.rmqgen.loadBalancer.enable = true; }"),
        (
            "lb-both",
            "{ services.rmqgen.loadBalancer = { enable = true; config = \"global\\n\"; \
             configFile = ./haproxy.cfg; }; }",
        ),
    ] {
        let got = eval(name, text);
        assert!(
            messages(&got["assertions"]).contains("set config (text) or configFile"),
            "{name}: {got}"
        );
    }

    // A broker from typed options: no port opened unless asked; an
    // enabled bootstrap without a script, or no cluster settings, refused.
    let broker = |extra: &str| {
        format!(
            "{{ services.rmqgen.broker = {{ enable = true; version = \"4.2\"; \
             cookieFile = \"/run/keys/cookie\"; {extra} }}; }}"
        )
    };
    let cluster = "clusterName = \"c\"; clusterNodes = [ \"rabbit@nixos\" ];";
    let got = eval("broker", &broker(cluster));
    assert_eq!(messages(&got["assertions"]), "");
    assert_eq!(
        got["firewall"],
        serde_json::json!([]),
        "openFirewall is opt-in"
    );
    let conf = got["rabbitmqEnvironment"].clone();
    assert!(conf.get("RABBITMQ_CONFIG_FILE").is_none(), "{conf}");
    let got = eval(
        "broker-bootstrap",
        &broker(&format!("{cluster} bootstrap.enable = true;")),
    );
    assert!(
        messages(&got["assertions"]).contains("bootstrap.script is empty"),
        "{got}"
    );
    let got = eval(
        "broker-bootstrap-blank",
        &broker(&format!(
            "{cluster} bootstrap.enable = true; bootstrap.script = \"  \\n\";"
        )),
    );
    assert!(
        messages(&got["assertions"]).contains("bootstrap.script is empty"),
        "{got}"
    );
    let got = eval("broker-nothing", &broker(""));
    assert!(
        messages(&got["assertions"]).contains("needs clusterName and clusterNodes"),
        "{got}"
    );
    let got = eval(
        "broker-text",
        &broker("configText = \"cluster_name = c\\n\"; extraSettings.heartbeat = \"30\";"),
    );
    assert!(
        messages(&got["assertions"]).contains("extraSettings has no effect with configText"),
        "{got}"
    );
}

/// Every option a user must set (one without a default) shows an example
/// in the option documentation.
#[test]
#[ignore = "needs Nix: cargo test --test integration nix_tools:: -- --ignored"]
fn required_module_options_have_examples() {
    let Some(tool) = nix_instantiate() else {
        return;
    };
    for (name, lib) in module_libs() {
        let expr = format!(
            "let lib = import {lib}; pkgs = import {root}/nix/stub-pkgs.nix {{ }}; \
         eval = lib.evalModules {{ specialArgs = {{ inherit pkgs; }}; modules = [ \
         {root}/nix/nixos-stubs.nix {root}/nix/service-stubs.nix {root}/modules/default.nix ]; }}; \
         docs = lib.optionAttrSetToDocList eval.options.services.rmqgen; \
         in {{ all = map (o: o.name) docs; \
         missing = map (o: o.name) (lib.filter (o: !(o ? default) && !(o ? example)) docs); }}",
            lib = lib.display(),
            root = ROOT,
        );
        let got = eval_json(&tool, Path::new(ROOT), &expr);
        let all = got["all"].as_array().unwrap();
        assert!(
            all.iter().any(|o| o == "services.rmqgen.broker.cookieFile"),
            "{got}"
        );
        assert_eq!(
            got["missing"],
            serde_json::json!([]),
            "{name}: options without default or example"
        );
    }
}

/// A module file of `text` evaluated with `lib`, which must fail: the
/// error Nix prints.
fn eval_error(tool: &Path, lib: &Path, dir: &Path, name: &str, text: &str) -> String {
    let file = dir.join(format!("{name}.nix"));
    std::fs::write(&file, text).unwrap();
    let out = Command::new(tool)
        .args(["--eval", "--strict", "--json", "--store", "dummy://"])
        .arg(Path::new(ROOT).join("nix/eval-files.nix"))
        .arg("--arg")
        .arg("lib")
        .arg(lib)
        .arg("--arg")
        .arg("host")
        .arg(&file)
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "{name} evaluated: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// rmqgen's own module system (what CI runs the module checks on) is held
/// to nixpkgs' lib for what those checks rely on: it refuses what nixpkgs
/// refuses (an undeclared option, conflicting `mkForce` definitions, a
/// value of the wrong type, an option read without a value, a non-Boolean
/// `mkIf`), reports a failed assertion, and applies priorities and `mkIf`
/// as nixpkgs does. With `RMQGEN_NIXPKGS_LIB` set every case runs on both.
#[test]
#[ignore = "needs Nix: cargo test --test integration nix_tools:: -- --ignored"]
fn own_module_system_refuses_what_nixpkgs_lib_refuses() {
    let Some(tool) = nix_instantiate() else {
        return;
    };
    let keepalived = |extra: &str| {
        format!(
            "{{ lib, ... }}: {{ services.rmqgen.keepalived = {{ enable = true; \
             virtualIp = \"10.0.0.10\"; prefixLength = 24; virtualRouterId = 51; \
             priority = 150; check.script = \"exit 0\\n\"; {extra} }}; }}"
        )
    };
    for (name, lib) in module_libs() {
        let dir = TempDir::new("honest");
        let fails = |case: &str, text: &str, wanted: &str| {
            let err = eval_error(&tool, &lib, dir.path(), case, text);
            assert!(err.contains(wanted), "{name}: {case}: {err}");
        };
        fails(
            "undeclared",
            &keepalived("interface = \"ens3\"; interfaces = [ ];"),
            "The option `services.rmqgen.keepalived.interfaces' does not exist",
        );
        fails(
            "undeclared-top",
            "{ services.rmqgen.brokers.enable = true; }",
            "The option `services.rmqgen.brokers' does not exist",
        );
        fails(
            "forced-twice",
            &format!(
                "{{ lib, ... }}: {{ imports = [ ({}) ]; \
                 services.rmqgen.keepalived.interface = lib.mkForce \"ens4\"; }}",
                keepalived("interface = lib.mkForce \"ens3\";")
            ),
            "The option `services.rmqgen.keepalived.interface' has conflicting definition values",
        );
        fails(
            "wrong-type",
            &keepalived("interface = 3;"),
            "A definition for option `services.rmqgen.keepalived.interface' is not of type `string'",
        );
        fails(
            "no-value",
            &keepalived(""),
            "The option `services.rmqgen.keepalived.interface' was accessed but has no value defined",
        );
        fails(
            "non-boolean-if",
            "{ lib, ... }: { services.rmqgen.keepalived = lib.mkIf \"yes\" { enable = true; }; }",
            "called with a non-Boolean condition",
        );

        let ok = |case: &str, text: &str| eval_module(&tool, &lib, dir.path(), case, text);
        let stop_post = |got: &serde_json::Value| got["keepalivedStopPost"][0].to_string();
        // A plain definition beats mkDefault, mkForce beats a plain one,
        // and the default only counts without either.
        let got = ok(
            "default-loses",
            &format!(
                "{{ lib, ... }}: {{ imports = [ ({}) ]; \
                 services.rmqgen.keepalived.interface = lib.mkDefault \"ens9\"; }}",
                keepalived("interface = \"ens3\";")
            ),
        );
        assert!(stop_post(&got).contains("dev ens3"), "{name}: {got}");
        let got = ok(
            "force-wins",
            &format!(
                "{{ lib, ... }}: {{ imports = [ ({}) ]; \
                 services.rmqgen.keepalived.interface = lib.mkForce \"ens4\"; }}",
                keepalived("interface = \"ens3\";")
            ),
        );
        assert!(stop_post(&got).contains("dev ens4"), "{name}: {got}");
        // Lists of one priority concatenate, in mkBefore/mkAfter order.
        let got = ok(
            "ordered",
            &format!(
                "{{ lib, ... }}: {{ imports = [ ({}) ]; \
                 systemd.services.keepalived.serviceConfig.ExecStopPost = lib.mkBefore [ \"first\" ]; }}",
                keepalived("interface = \"ens3\";")
            ),
        );
        assert_eq!(got["keepalivedStopPost"][0], "first", "{name}: {got}");
        assert_eq!(got["keepalivedStopPost"].as_array().unwrap().len(), 3);
        // mkIf false defines nothing, even where the content would be refused.
        let got = ok(
            "if-false",
            "{ lib, ... }: { services.rmqgen.keepalived = lib.mkIf false { enable = true; }; }",
        );
        assert_eq!(got["keepalivedStopPost"], serde_json::Value::Null, "{name}");
        assert_eq!(got["warnings"], serde_json::json!([]), "{name}");
        // A failed assertion is reported with its message, a warning likewise.
        let got = ok(
            "assertion",
            "{ assertions = [ { assertion = false; message = \"no\"; } \
             { assertion = true; message = \"yes\"; } ]; warnings = [ \"careful\" ]; }",
        );
        assert_eq!(got["assertions"], serde_json::json!(["no"]), "{name}");
        assert_eq!(got["warnings"], serde_json::json!(["careful"]), "{name}");
    }
}

/// The script a bootstrap unit's ExecStart runs: it is run under flock on
/// the lock the cloud-init unit takes (`paths::BOOTSTRAP_LOCK`), one run at a time
/// per host (the stand-in pkgs' writeScript gives the script's text).
fn bootstrap_script(exec_start: &str) -> &str {
    let (flock, rest) = exec_start
        .split_once(' ')
        .unwrap_or_else(|| panic!("ExecStart without flock: {exec_start}"));
    assert!(flock.ends_with("/bin/flock"), "{exec_start}");
    rest.strip_prefix(rmqgen::plan::paths::BOOTSTRAP_LOCK)
        .and_then(|r| r.strip_prefix(' '))
        .unwrap_or_else(|| panic!("ExecStart without the bootstrap lock: {exec_start}"))
}
