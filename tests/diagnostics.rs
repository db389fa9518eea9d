//! Diagnostics: one spec per validation rule, snapshotted as `rmqgen validate`
//! prints them, plus robustness checks (no input makes rmqgen panic, no
//! string value can inject a line into an artifact).
//!
//! - `tests/invalid/*.json`: each a small mutation of `examples/five-vm.json`
//!   that breaks one rule (or, for `original-setup.json`, every rule the
//!   hand-made setup this project replaces breaks). Each must report at
//!   least one error, and the codes listed in [`INVALID`].
//! - `tests/warnings/*.json`: valid specs that trigger warning-only rules.
//!   They must render, and report the codes listed in [`WARNINGS`].
//!
//! Snapshots: `snapshots/diagnostics@<file stem>.snap`.

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;

use rmqgen::{Code, Diagnostics, Severity};
use serde_json::{json, Value};

/// Expected error codes per `tests/invalid/<stem>.json`. Every code listed
/// must appear as an error; other diagnostics may appear too (the snapshot
/// shows them all).
const INVALID: &[(&str, &[Code])] = &[
    // Parsing: one diagnostic, with the line and column of the problem.
    ("malformed", &[Code::Syntax]),
    ("unknown-field", &[Code::Shape]),
    ("wrong-type", &[Code::Shape]),
    ("missing-field", &[Code::Shape]),
    ("inline-password", &[Code::InlineSecret]),
    // Names and addresses.
    ("bad-names", &[Code::Name]),
    ("duplicate-names", &[Code::DuplicateName]),
    ("unsafe-characters", &[Code::Charset]),
    ("bad-addresses", &[Code::Address, Code::Mtu]),
    ("bad-cidr", &[Code::Address]),
    ("vip-outside-subnet", &[Code::OutsideNetwork]),
    ("duplicate-addresses", &[Code::DuplicateAddress]),
    // Two host names whose derived MACs collide (found by search).
    ("mac-collision", &[Code::DuplicateAddress]),
    ("reserved-addresses", &[Code::ReservedAddress]),
    ("bad-interface", &[Code::Interface]),
    ("bad-domain", &[Code::Domain]),
    // Counts.
    ("no-brokers", &[Code::BrokerCount]),
    ("one-load-balancer", &[Code::LoadBalancerCount]),
    // RabbitMQ.
    ("unsupported-version", &[Code::Version]),
    ("unparsable-version", &[Code::Version]),
    ("classic-on-4x", &[Code::ClassicMirroringRemoved]),
    ("replicas-out-of-range", &[Code::Replicas]),
    ("partition-ignore", &[Code::PartitionIgnore]),
    ("bad-users", &[Code::Users]),
    ("unknown-plugin", &[Code::Plugin]),
    ("bad-secrets", &[Code::Secret]),
    // TLS.
    ("tls-no-ca-nixos", &[Code::TlsCa, Code::TlsNixos]),
    ("tls-references", &[Code::TlsInline, Code::TlsSource]),
    ("tls-inline-key", &[Code::TlsInline]),
    // HAProxy.
    ("haproxy-timeouts", &[Code::Timeout]),
    ("zero-timeout-no-heartbeat", &[Code::Timeout]),
    (
        "health-check",
        &[Code::HealthCheck, Code::Limit, Code::KeepalivedScriptTiming],
    ),
    ("port-conflicts", &[Code::PortConflict]),
    // keepalived.
    ("router-id", &[Code::RouterId]),
    ("priority-out-of-range", &[Code::Priority]),
    ("no-failover", &[Code::NoFailover]),
    ("track-weight-positive", &[Code::NoFailover]),
    ("auth-pass-inline", &[Code::InlineSecret]),
    ("auth-pass-vrrp3", &[Code::AuthPass]),
    ("nopreempt-master", &[Code::NoPreemptMaster]),
    ("advert-interval-v2", &[Code::AdvertInterval]),
    ("advert-interval-v3", &[Code::AdvertInterval]),
    ("vrrp-version", &[Code::VrrpVersion]),
    ("bad-ssh-key", &[Code::SshKey]),
    // The host firewall's source ranges.
    ("firewall-sources", &[Code::FirewallSource]),
    // VM sizes.
    ("tiny-vm", &[Code::Resources]),
    // The Terraform module.
    ("terraform-names", &[Code::TerraformName]),
    ("vm-id-range", &[Code::VmId]),
    ("vm-id-duplicate", &[Code::VmId]),
    // The NixOS provisioning path.
    ("nixos-host-names", &[Code::NixosHostName]),
    // The OS, the install source and apt.
    ("install-series", &[Code::InstallSeries]),
    ("team-rabbitmq-series", &[Code::InstallSeries]),
    ("apt-settings", &[Code::InstallSource]),
    (
        "keepalived-fractional-interval",
        &[Code::KeepalivedScriptTiming],
    ),
    // Every representable defect of the original blog-post setup at once:
    // dotted host names and an underscore in the cluster name, 10 s HAProxy
    // timeouts against the 60 s heartbeat, priorities 100/80 with weight -20
    // (a tie: no failover), `state MASTER` with nopreempt, RabbitMQ's default partition handling
    // `ignore` with three brokers.
    (
        "original-setup",
        &[
            Code::Name,
            Code::Timeout,
            Code::NoFailover,
            Code::NoPreemptMaster,
            Code::PartitionIgnore,
        ],
    ),
];

/// Expected warning codes per `tests/warnings/<stem>.json` (valid specs).
const WARNINGS: &[(&str, &[Code])] = &[
    ("quorum-on-3-10", &[Code::DefaultQueueType]),
    (
        "partition-handling-on-4-3",
        &[Code::PartitionHandlingIgnored],
    ),
    ("heartbeat-disabled", &[Code::HeartbeatDisabled]),
    ("quorum-four-brokers", &[Code::BrokerCount]),
    ("slow-health-check", &[Code::HealthCheck]),
    ("cli-port-range", &[Code::PortConflict]),
    ("equal-priorities", &[Code::Priority]),
    ("quorum-two-replicas", &[Code::Replicas]),
    ("quorum-replicas-before-3-13", &[Code::Replicas]),
    ("nixos-rabbitmq-version", &[Code::NixosRabbitVersion]),
    ("no-gateway-no-dns", &[Code::PackageMirrors]),
    ("multicast-vrrp", &[Code::VrrpUnprotected]),
    ("no-ssh-key", &[Code::NoSshKey]),
    ("nixos-no-ssh-key", &[Code::NoSshKey]),
    ("vrrp-v2-no-auth", &[Code::VrrpNoAuth]),
    ("firewall-open", &[Code::FirewallOpen, Code::FirewallClosed]),
];

/// Codes no spec can trigger today. Listed so that [`every_code_is_exercised`]
/// fails both when a new code has no fixture and when one of these becomes
/// reachable (then give it a fixture and remove it from here).
const UNREACHABLE: &[(Code, &str)] = &[
    (
        Code::NixosCheckInterval,
        "retired: the NixOS hosts install the rendered keepalived.conf",
    ),
    (
        Code::TlsNames,
        "raised by `rmqgen render` from certificate files it can read, not by a spec alone: tests/cli.rs render_checks_the_names_readable_certificates_cover",
    ),
];

fn fixture_dir(name: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join(name)
}

fn stem(path: &Path) -> String {
    path.file_stem().unwrap().to_str().unwrap().to_string()
}

fn expected<'a>(table: &'a [(&str, &[Code])], stem: &str) -> &'a [Code] {
    table
        .iter()
        .find(|(s, _)| *s == stem)
        .map(|(_, c)| *c)
        .unwrap_or_else(|| panic!("{stem}.json has no entry in the expectations table"))
}

/// `diagnose`, turning a panic into a test failure that names the input.
fn diagnose(what: &str, source: &str) -> Diagnostics {
    catch_unwind(AssertUnwindSafe(|| rmqgen::diagnose(source)))
        .unwrap_or_else(|_| panic!("{what}: rmqgen::diagnose panicked"))
}

/// `compile`, turning a panic into a test failure that names the input.
fn compile(what: &str, source: &str) -> rmqgen::Result<rmqgen::Output> {
    catch_unwind(AssertUnwindSafe(|| rmqgen::compile(source)))
        .unwrap_or_else(|_| panic!("{what}: rmqgen::compile panicked"))
}

/// The character at a 1-based (line, column) of `source`, columns counted
/// in characters as rmqgen counts them.
fn char_at(source: &str, line: usize, column: usize) -> Option<char> {
    source
        .split('\n')
        .nth(line.checked_sub(1)?)?
        .chars()
        .nth(column.checked_sub(1)?)
}

/// Checks what every diagnostic promises: a JSON pointer, a message, a hint
/// and a 1-based source location; for validation diagnostics the location
/// is where the value at the pointer (or its nearest written ancestor)
/// starts.
fn check_well_formed(what: &str, source: &str, diagnostics: &Diagnostics) {
    let doc: Option<Value> = serde_json::from_str(source).ok();
    for d in diagnostics {
        let ctx = format!("{what}: {d}");
        assert!(
            d.pointer.is_empty() || d.pointer.starts_with('/'),
            "{ctx}\n  the pointer is not a JSON pointer"
        );
        assert!(!d.message.trim().is_empty(), "{ctx}\n  empty message");
        assert!(
            d.hint.as_deref().is_some_and(|h| !h.trim().is_empty()),
            "{ctx}\n  no hint"
        );
        let Some(loc) = d.location else {
            panic!("{ctx}\n  no source location")
        };
        assert!(loc.line >= 1 && loc.column >= 1, "{ctx}\n  not 1-based");
        let parse_stage = matches!(d.code, Code::Syntax | Code::Shape | Code::InlineSecret);
        if let (false, Some(doc)) = (parse_stage, &doc) {
            let mut p = d.pointer.as_str();
            let value = loop {
                if let Some(v) = doc.pointer(p) {
                    break v;
                }
                p = &p[..p.rfind('/').expect("the root always resolves")];
            };
            let first = serde_json::to_string(value).unwrap().chars().next();
            assert_eq!(
                char_at(source, loc.line, loc.column),
                first,
                "{ctx}\n  the location is not where the value at {p} starts"
            );
        }
    }
}

fn codes(diagnostics: &Diagnostics, severity: Severity) -> BTreeSet<Code> {
    diagnostics
        .iter()
        .filter(|d| d.severity == severity)
        .map(|d| d.code)
        .collect()
}

fn snapshot_diagnostics(stem: &str, expected: &[Code], diagnostics: &Diagnostics) {
    let expected: Vec<&str> = expected.iter().map(|c| c.as_str()).collect();
    insta::with_settings!({
        snapshot_path => "../snapshots",
        prepend_module_to_snapshot => false,
        omit_expression => true,
        snapshot_suffix => stem,
        info => &json!({ "expected": expected }),
    }, {
        insta::assert_snapshot!("diagnostics", diagnostics.to_string());
    });
}

#[test]
fn invalid_specs() {
    insta::glob!("invalid/*.json", |path| {
        let stem = stem(path);
        let want = expected(INVALID, &stem);
        let source = std::fs::read_to_string(path).unwrap();
        let d = diagnose(&stem, &source);

        assert!(d.has_errors(), "{stem}: no error reported:\n{d}");
        let errors = codes(&d, Severity::Error);
        for code in want {
            assert!(
                errors.contains(code),
                "{stem}: expected an error {code} ({}), got:\n{d}",
                code.title()
            );
        }
        check_well_formed(&stem, &source, &d);

        // compile() refuses with exactly the same diagnostics.
        match compile(&stem, &source) {
            Err(rmqgen::Error::Invalid(c)) => {
                assert_eq!(c, d, "{stem}: compile() and diagnose() disagree")
            }
            Err(e) => panic!("{stem}: expected Error::Invalid, got {e}"),
            Ok(_) => panic!("{stem}: an invalid spec compiled"),
        }

        snapshot_diagnostics(&stem, want, &d);
    });
}

#[test]
fn warning_specs() {
    insta::glob!("warnings/*.json", |path| {
        let stem = stem(path);
        let want = expected(WARNINGS, &stem);
        let source = std::fs::read_to_string(path).unwrap();
        let d = diagnose(&stem, &source);

        assert!(!d.has_errors(), "{stem}: must be valid, got:\n{d}");
        let warnings = codes(&d, Severity::Warning);
        for code in want {
            assert!(
                warnings.contains(code),
                "{stem}: expected a warning {code} ({}), got:\n{d}",
                code.title()
            );
        }
        check_well_formed(&stem, &source, &d);

        // Warnings do not stop rendering.
        let output = compile(&stem, &source)
            .unwrap_or_else(|e| panic!("{stem}: a spec with only warnings must render: {e}"));
        assert!(!output.bundle.is_empty());
        assert_eq!(
            output.warnings, d,
            "{stem}: compile() and diagnose() disagree"
        );

        snapshot_diagnostics(&stem, want, &d);
    });
}

/// The expectation tables and the fixture directories list the same files,
/// and no stem is used twice (snapshot names would collide).
#[test]
fn tables_match_fixture_files() {
    let mut all = BTreeSet::new();
    for (dir, table) in [("invalid", INVALID), ("warnings", WARNINGS)] {
        let mut on_disk: Vec<String> = std::fs::read_dir(fixture_dir(dir))
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "json"))
            .map(|p| stem(&p))
            .collect();
        on_disk.sort();
        let mut listed: Vec<String> = table.iter().map(|(s, _)| s.to_string()).collect();
        listed.sort();
        assert_eq!(on_disk, listed, "tests/{dir}/*.json vs the table");
        for s in on_disk {
            assert!(all.insert(s.clone()), "{s} is used in two directories");
        }
    }
}

/// Every diagnostic code is triggered by at least one fixture or example,
/// except the ones listed as unreachable.
#[test]
fn every_code_is_exercised() {
    let mut seen = BTreeSet::new();
    for dir in ["invalid", "warnings"] {
        for entry in std::fs::read_dir(fixture_dir(dir)).unwrap() {
            let path = entry.unwrap().path();
            let source = std::fs::read_to_string(&path).unwrap();
            seen.extend(diagnose(&stem(&path), &source).iter().map(|d| d.code));
        }
    }
    let examples = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples");
    for entry in std::fs::read_dir(examples).unwrap() {
        let path = entry.unwrap().path();
        let source = std::fs::read_to_string(&path).unwrap();
        seen.extend(diagnose(&stem(&path), &source).iter().map(|d| d.code));
    }

    // The change codes (RMQ110 and up): `rmqgen plan` over the spec pairs
    // of tests/changes (tests/changes.rs asserts each pair's outcome).
    let changes = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/changes");
    for entry in std::fs::read_dir(changes).unwrap() {
        let dir = entry.unwrap().path();
        let spec = |f: &str| rmqgen::load(dir.join(f)).unwrap();
        match rmqgen::plan_change(&spec("old.json"), &spec("new.json")) {
            Ok(plan) => seen.extend(plan.warnings.iter().map(|d| d.code)),
            Err(e) => seen.extend(e.diagnostics().into_iter().flatten().map(|d| d.code)),
        }
    }

    let unreachable: BTreeSet<Code> = UNREACHABLE.iter().map(|(c, _)| *c).collect();
    let missing: Vec<String> = Code::ALL
        .iter()
        .filter(|c| !seen.contains(c) && !unreachable.contains(c))
        .map(|c| format!("{c} ({})", c.title()))
        .collect();
    assert!(
        missing.is_empty(),
        "no fixture triggers: {}",
        missing.join(", ")
    );
    for (code, why) in UNREACHABLE {
        assert!(
            !seen.contains(code),
            "{code} is listed as unreachable ({why}) but a fixture triggers it: \
             remove it from UNREACHABLE"
        );
    }
}

/// RMQ103: one warning per missing setting, each on its own; and none on
/// the NixOS path, whose hosts get every store path from the deploying
/// machine.
#[test]
fn package_mirror_warnings() {
    let messages = |source: &str| -> Vec<String> {
        rmqgen::diagnose(source)
            .iter()
            .filter(|d| d.code == Code::PackageMirrors)
            .map(|d| {
                assert_eq!(d.severity, Severity::Warning, "{d}");
                assert_eq!(d.pointer, "/network", "{d}");
                d.message.clone()
            })
            .collect()
    };
    let mut doc: Value = serde_json::from_str(&rmqgen::reference_spec()).unwrap();
    assert!(messages(&doc.to_string()).is_empty());

    let net = doc["network"].as_object_mut().unwrap();
    let gateway = net.remove("gateway").unwrap();
    let no_gateway = messages(&doc.to_string());
    assert_eq!(no_gateway.len(), 1, "{no_gateway:?}");
    assert!(no_gateway[0].contains("gateway"), "{no_gateway:?}");

    doc["network"]["gateway"] = gateway;
    doc["network"]["dns"] = json!([]);
    let no_dns = messages(&doc.to_string());
    assert_eq!(no_dns.len(), 1, "{no_dns:?}");
    assert!(no_dns[0].contains("DNS"), "{no_dns:?}");

    doc["network"].as_object_mut().unwrap().remove("gateway");
    assert_eq!(messages(&doc.to_string()).len(), 2);
    doc["provisioning"] = json!("nixos");
    assert!(messages(&doc.to_string()).is_empty());
}

/// Codes are unique, look like `RMQnnn`, parse back (case-insensitively)
/// and each has a title and an explanation for `rmqgen explain`.
#[test]
fn codes_are_stable_and_explained() {
    let mut printed = BTreeSet::new();
    for code in Code::ALL {
        let s = code.as_str();
        assert!(
            s.len() == 6 && s.starts_with("RMQ") && s[3..].bytes().all(|b| b.is_ascii_digit()),
            "{s}"
        );
        assert!(printed.insert(s), "{s} is used twice");
        assert_eq!(Code::parse(s), Some(*code));
        assert_eq!(Code::parse(&s.to_ascii_lowercase()), Some(*code));
        assert!(!code.title().is_empty(), "{s} has no title");
        assert!(code.explanation().len() > 20, "{s} has no explanation");
    }
    assert_eq!(Code::parse("RMQ999"), None);
    assert_eq!(Code::parse(""), None);
}

// ---------------------------------------------------------------------------
// Robustness
// ---------------------------------------------------------------------------

/// A valid spec that sets every optional field, so that the mutation tests
/// below reach every value.
const FULL_SPEC: &str = r#"{
  "$schema": "../schemas/topology.schema.json",
  "name": "rmq-full",
  "os": "debian-12",
  "apt": { "proxy": "http://10.0.0.1:3142" },
  "domain": "mq.example.internal",
  "network": { "cidr": "10.0.0.0/24", "gateway": "10.0.0.1", "dns": ["10.0.0.1"], "interface": "eth0", "mtu": 1500 },
  "vip": "10.0.0.100",
  "rabbitmq": {
    "version": "3.13",
    "install": { "from": "mirror", "url": "http://apt.example.internal/rabbitmq", "keyring": "/usr/share/keyrings/example-archive.gpg", "suite": "bookworm", "component": "main" },
    "erlang_cookie": { "from": "file", "path": "secrets/erlang-cookie" },
    "queue_ha": { "mode": "quorum", "policy_name": "quorum-all", "pattern": "^", "replicas": 3, "sync": "automatic" },
    "vhosts": ["/", "orders"],
    "users": [
      {
        "name": "app",
        "password": { "from": "variable", "name": "app_password" },
        "tags": ["management"],
        "permissions": [{ "vhost": "orders", "configure": "^app\\.", "write": ".*", "read": ".*" }]
      }
    ],
    "plugins": ["rabbitmq_management", "rabbitmq_prometheus"],
    "partition_handling": "pause_minority",
    "heartbeat_s": 60,
    "ports": { "amqp": 5672, "management": 15672, "prometheus": 15692, "distribution": 25672 }
  },
  "brokers": [
    { "name": "mq-1", "address": "10.0.0.11", "resources": { "vcpus": 2, "memory_mib": 4096, "disk_gib": 40 } },
    { "name": "mq-2", "address": "10.0.0.12", "vm_id": 9201 },
    { "name": "mq-3", "address": "10.0.0.13" }
  ],
  "load_balancers": [
    { "name": "lb-1", "address": "10.0.0.21", "priority": 150, "initial_state": "BACKUP", "resources": { "vcpus": 1 } },
    { "name": "lb-2", "address": "10.0.0.22", "priority": 140, "vm_id": 9202 }
  ],
  "haproxy": {
    "amqp_port": 5672,
    "management_port": 15672,
    "health_port": 8405,
    "stats": { "port": 8100, "uri": "/rabbitmq-stats", "user": "admin", "password": { "from": "terraform-random" }, "refresh_s": 10 },
    "balance": "leastconn",
    "check": { "interval_ms": 1000, "fast_interval_ms": 500, "down_interval_ms": 2000, "rise": 2, "fall": 2 },
    "timeouts": { "connect_ms": 5000, "client_s": 180, "server_s": 180, "check_ms": 1000 },
    "maxconn": 10000
  },
  "ssh_authorized_keys": ["ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMq3Kt6t7YRZlHzrxgsTQ0zwYQm2PZ0tQGcGkCXrbT0v ops@example"],
  "firewall": { "client_cidrs": ["10.0.0.0/24", "10.20.0.0/16"], "admin_cidrs": ["10.0.0.0/24"], "monitoring_cidrs": ["10.30.1.0/24"] },
  "keepalived": {
    "virtual_router_id": 51,
    "vrrp_version": 2,
    "advert_int_ms": 1000,
    "transport": "unicast",
    "preempt": true,
    "track": { "mode": "weight", "weight": -50 },
    "check_interval_ms": 1000,
    "check_fall": 2,
    "check_rise": 2,
    "auth_pass": { "from": "variable", "name": "vrrp_auth_pass" }
  },
  "tls": {
    "enabled": true,
    "amqp": true,
    "management": true,
    "prometheus": false,
    "stats": true,
    "inter_node": true,
    "haproxy_mode": "terminate",
    "ca": { "from": "variable", "name": "tls_ca_bundle" },
    "brokers": { "certificate": { "from": "file", "path": "tls/{host}.crt" }, "key": { "from": "variable", "name": "tls_key_{host}" } },
    "load_balancers": { "certificate": { "from": "host", "path": "/etc/pki/tls/certs/haproxy.pem" }, "key": { "from": "host", "path": "/etc/pki/tls/certs/haproxy.pem.key" } }
  },
  "provisioning": "cloud-init",
  "target": {
    "provider": "libvirt",
    "resources": {
      "broker": { "vcpus": 2, "memory_mib": 4096, "disk_gib": 40 },
      "load_balancer": { "vcpus": 1, "memory_mib": 1024, "disk_gib": 10 }
    },
    "libvirt": { "uri": "qemu:///system", "pool": "default", "bridge": "br0", "domain_type": "kvm" },
    "proxmox": { "node": "pve", "bridge": "vmbr0", "datastore": "local-lvm", "snippets_datastore": "local", "vm_id_base": 9100 }
  }
}"#;

/// Inputs that make rmqgen panic today (see the KNOWN BUGS section); the
/// sweeps below skip them so that they keep guarding everything else.
const KNOWN_PANICS: &[(&str, u64)] = &[];

fn full_spec() -> Value {
    serde_json::from_str(FULL_SPEC).unwrap()
}

/// Every leaf of a JSON document, with its pointer.
fn leaves(v: &Value, pointer: String, out: &mut Vec<(String, Value)>) {
    match v {
        Value::Object(m) => {
            for (k, v) in m {
                let token = k.replace('~', "~0").replace('/', "~1");
                leaves(v, format!("{pointer}/{token}"), out);
            }
        }
        Value::Array(a) => {
            for (i, v) in a.iter().enumerate() {
                leaves(v, format!("{pointer}/{i}"), out);
            }
        }
        leaf => out.push((pointer, leaf.clone())),
    }
}

fn with(doc: &Value, pointer: &str, value: Value) -> String {
    let mut doc = doc.clone();
    *doc.pointer_mut(pointer).unwrap() = value;
    serde_json::to_string_pretty(&doc).unwrap()
}

#[test]
fn full_spec_is_valid_and_sets_every_field_of_the_schema() {
    let output = rmqgen::compile(FULL_SPEC).unwrap_or_else(|e| panic!("{e}"));
    // The one warning: `sync` is meaningless for quorum queues (it is set so
    // that the sweeps reach it).
    let warnings: Vec<_> = output.warnings.iter().map(|d| d.pointer.as_str()).collect();
    assert_eq!(warnings, ["/rabbitmq/queue_ha/sync"], "{}", output.warnings);

    // Every property name the schema defines is used somewhere in FULL_SPEC,
    // so the sweeps below reach new fields as they are added.
    fn schema_props(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                if let Some(Value::Object(p)) = m.get("properties") {
                    out.extend(p.keys().cloned());
                }
                m.values().for_each(|v| schema_props(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| schema_props(v, out)),
            _ => {}
        }
    }
    fn keys(v: &Value, out: &mut BTreeSet<String>) {
        match v {
            Value::Object(m) => {
                out.extend(m.keys().cloned());
                m.values().for_each(|v| keys(v, out));
            }
            Value::Array(a) => a.iter().for_each(|v| keys(v, out)),
            _ => {}
        }
    }
    let schema: Value = serde_json::from_str(&rmqgen::schema()).unwrap();
    let (mut defined, mut used) = (BTreeSet::new(), BTreeSet::new());
    schema_props(&schema, &mut defined);
    keys(&full_spec(), &mut used);
    let unused: Vec<_> = defined.difference(&used).collect();
    assert!(unused.is_empty(), "FULL_SPEC does not set {unused:?}");
}

/// Every prefix of a spec is handled without a panic, and every proper
/// prefix is a syntax error.
#[test]
fn truncated_specs_never_panic() {
    for source in [rmqgen::reference_spec(), FULL_SPEC.to_string()] {
        let end = source.rfind('}').unwrap() + 1;
        for (i, _) in source.char_indices() {
            let prefix = &source[..i];
            let d = diagnose(&format!("prefix of {i} bytes"), prefix);
            if i < end {
                assert!(
                    d.iter().any(|d| d.code == Code::Syntax),
                    "prefix of {i} bytes: {d}"
                );
            }
        }
    }
}

/// Extreme numbers in every numeric field: never a panic, and a spec that
/// validates always renders (no internal error).
#[test]
fn extreme_numbers_never_panic_and_valid_specs_render() {
    let doc = full_spec();
    let mut all = Vec::new();
    leaves(&doc, String::new(), &mut all);
    let numeric: Vec<_> = all.into_iter().filter(|(_, v)| v.is_number()).collect();
    assert!(numeric.len() > 40, "FULL_SPEC has too few numbers");
    let values: [i64; 8] = [
        -1,
        0,
        1,
        255,
        65_535,
        65_536,
        i64::from(i32::MAX),
        i64::from(u32::MAX),
    ];
    for (pointer, _) in &numeric {
        for v in values {
            if KNOWN_PANICS
                .iter()
                .any(|(p, n)| p == pointer && i64::try_from(*n) == Ok(v))
            {
                continue;
            }
            let source = with(&doc, pointer, json!(v));
            let what = format!("{pointer} = {v}");
            let d = match compile(&what, &source) {
                Ok(output) => output.warnings,
                Err(rmqgen::Error::Invalid(d)) => d,
                Err(e) => panic!("{what}: validated but did not render: {e}"),
            };
            check_well_formed(&what, &source, &d);
        }
    }
}

/// No string value can add a line to an artifact: every value that ends up
/// in a line-oriented file is either rejected or quoted. Also: odd strings
/// never cause a panic.
#[test]
fn string_values_cannot_inject_lines() {
    let doc = full_spec();
    let mut all = Vec::new();
    leaves(&doc, String::new(), &mut all);
    let strings: Vec<_> = all.into_iter().filter(|(_, v)| v.is_string()).collect();
    let payloads = [
        "x\nINJECTED 1",
        "x\rINJECTED 1",
        "x\u{2028}INJECTED 1",
        "x\"\nINJECTED 1",
        "x'\nINJECTED 1\n'",
        "",
        " ",
        "ä",
        "${INJECTED}",
        "%{INJECTED}",
        "$(INJECTED)",
        "}\nINJECTED {",
    ];
    let long = "x".repeat(5000);
    for (pointer, _) in &strings {
        for payload in payloads.iter().copied().chain([long.as_str()]) {
            let source = with(&doc, pointer, json!(payload));
            let what = format!("{pointer} = {payload:?}");
            let output = match compile(&what, &source) {
                Ok(output) => output,
                Err(rmqgen::Error::Invalid(d)) => {
                    check_well_formed(&what, &source, &d);
                    continue;
                }
                Err(e) => panic!("{what}: validated but did not render: {e}"),
            };
            check_well_formed(&what, &source, &output.warnings);
            for (path, artifact) in output.bundle.iter() {
                for line in artifact.text().lines() {
                    let line = line.trim_start();
                    assert!(
                        !line.starts_with("INJECTED") && !line.starts_with("\u{2028}INJECTED"),
                        "{what}: {path} got the line {line:?}"
                    );
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------
// REGRESSIONS
//
// Each test below pins behaviour that was once wrong. A new bug gets a
// failing test here first; KNOWN_PANICS lists inputs the sweep above must
// skip while a panic is being fixed (empty when there is none).
// ---------------------------------------------------------------------------

fn five_vm() -> Value {
    serde_json::from_str(&rmqgen::reference_spec()).unwrap()
}

/// Sets `pointer` in `doc`, creating missing parent objects.
fn set(doc: &mut Value, pointer: &str, value: Value) {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    if doc.pointer(parent).is_none() {
        set(doc, parent, json!({}));
    }
    match doc.pointer_mut(parent).unwrap() {
        Value::Object(m) => {
            m.insert(key.to_string(), value);
        }
        Value::Array(a) => a[key.parse::<usize>().unwrap()] = value,
        other => panic!("{parent} is {other}"),
    }
}

fn five_vm_with(changes: &[(&str, Value)]) -> String {
    let mut doc = five_vm();
    for (p, v) in changes {
        set(&mut doc, p, v.clone());
    }
    serde_json::to_string_pretty(&doc).unwrap()
}

fn errors_at(d: &Diagnostics, code: Code) -> Vec<String> {
    d.iter()
        .filter(|d| d.severity == Severity::Error && d.code == code)
        .map(|d| d.pointer.clone())
        .collect()
}

/// Regression (found by these tests, now fixed): `validate/haproxy.rs` computes `hb + 1` and `hb * 3` in plain u32
/// arithmetic for the RMQ050 hint: a heartbeat near u32::MAX overflows
/// (a panic in debug builds, a wrong hint in release). Fix: saturating or
/// u64 arithmetic there (and see the next test: bound the heartbeat).
#[test]
fn regression_huge_heartbeat_does_not_panic() {
    for (hb, client) in [(u64::from(u32::MAX), None), (2_000_000_000, Some(10))] {
        let mut changes = vec![("/rabbitmq/heartbeat_s", json!(hb))];
        if let Some(c) = client {
            changes.push(("/haproxy/timeouts/client_s", json!(c)));
        }
        let source = five_vm_with(&changes);
        let d = diagnose(&format!("heartbeat_s = {hb}"), &source);
        assert!(d.has_errors());
    }
}

/// BUG (gap): the AMQP heartbeat is a 16-bit field of connection.tune; a
/// heartbeat above 65535 s cannot be negotiated, yet it is accepted and
/// written to rabbitmq.conf. Fix: an RMQ050/RMQ051 error above 65535.
#[test]
fn regression_heartbeat_above_16_bits_is_rejected() {
    let source = five_vm_with(&[
        ("/rabbitmq/heartbeat_s", json!(70_000)),
        (
            "/haproxy/timeouts",
            json!({ "client_s": 300_000, "server_s": 300_000 }),
        ),
    ]);
    let d = rmqgen::diagnose(&source);
    assert!(
        d.iter()
            .any(|d| d.severity == Severity::Error && d.pointer == "/rabbitmq/heartbeat_s"),
        "{d}"
    );
}

/// Regression (found by these tests, now fixed): a port that collides with epmd (4369, fixed) is reported at the
/// pointer "(epmd)", which is not a JSON pointer and has no location,
/// while the message names the field the user actually wrote. Fix: in
/// `validate/rabbitmq.rs` list epmd first, so the user's field is the one
/// reported (or never report at a fixed port).
#[test]
fn regression_epmd_conflict_points_at_the_users_field() {
    let source = five_vm_with(&[("/rabbitmq/ports/distribution", json!(4369))]);
    let d = rmqgen::diagnose(&source);
    assert_eq!(
        errors_at(&d, Code::PortConflict),
        ["/rabbitmq/ports/distribution"],
        "{d}"
    );
    check_well_formed("distribution = 4369", &source, &d);
}

/// Regression (found by these tests, now fixed): a conflict between a port the user wrote and a default is reported
/// at the default's pointer, a field absent from the spec. Here the user
/// set haproxy.health_port to the management port; the error points at
/// /haproxy/management_port. Fix: in `Sink::distinct_ports`, blame the
/// entry the spec sets (pass whether each port is explicit).
#[test]
fn regression_port_conflict_points_at_the_written_field() {
    let source = five_vm_with(&[("/haproxy/health_port", json!(15672))]);
    let d = rmqgen::diagnose(&source);
    assert_eq!(
        errors_at(&d, Code::PortConflict),
        ["/haproxy/health_port"],
        "{d}"
    );
}

/// Regression (found by these tests, now fixed): one out-of-range rabbitmq.ports.amqp is reported twice, the second
/// time at /haproxy/amqp_port, which the spec does not set (it defaults to
/// the broker port). Fix: range-check haproxy.amqp_port only when written.
#[test]
fn regression_bad_amqp_port_is_reported_once() {
    let source = five_vm_with(&[("/rabbitmq/ports/amqp", json!(70_000))]);
    let d = rmqgen::diagnose(&source);
    assert_eq!(
        errors_at(&d, Code::PortConflict),
        ["/rabbitmq/ports/amqp"],
        "{d}"
    );
}

/// Regression (found by these tests, now fixed): the management and prometheus ports are checked for conflicts even
/// when their plugins are disabled and nothing listens on them (and
/// rabbitmq.conf does not mention them). Fix: only list the ports of
/// enabled plugins in `validate/rabbitmq.rs`.
#[test]
fn regression_disabled_plugin_ports_do_not_conflict() {
    let source = five_vm_with(&[
        ("/rabbitmq/plugins", json!([])),
        ("/rabbitmq/ports/amqp", json!(15692)),
    ]);
    let d = rmqgen::diagnose(&source);
    assert!(!d.has_errors(), "{d}");
}

/// Regression (found by these tests, now fixed): serde_json reports column 0 when the error is at the start of a
/// line (e.g. an empty file, or a file cut after a newline); `Location` is
/// documented as 1-based and the CLI prints "(line 1, column 0)". Fix:
/// `column: inner.column().max(1)` in `lib.rs::parse`.
#[test]
fn regression_syntax_error_columns_are_one_based() {
    for source in ["", "\n", "{\n  \"name\": \"x\",\n"] {
        let d = rmqgen::diagnose(source);
        let loc = d.iter().next().and_then(|d| d.location).unwrap();
        assert!(loc.column >= 1, "{source:?}: {d}");
    }
}

/// BUG (rule gap): RMQ052's explanation cites the original's `inter 5000
/// fall 2` ("kept it there for about 8 s"), but the rule warns only when
/// interval × fall exceeds 10 s, so exactly those values pass silently.
/// Fix: warn at >= 10 s, or lower the threshold (e.g. > 5 s).
#[test]
fn regression_original_health_check_timing_is_flagged() {
    let source = five_vm_with(&[("/haproxy/check", json!({ "interval_ms": 5000, "fall": 2 }))]);
    let d = rmqgen::diagnose(&source);
    assert!(d.iter().any(|d| d.code == Code::HealthCheck), "{d}");
}

/// Regression (found by these tests, now fixed): RMQ040's explanation says "rmqgen knows RabbitMQ 3.8 to 4.2" while
/// the rule (and its hint) accept 3.8 to 4.3. Fix the text in
/// `diagnostic.rs`.
#[test]
fn regression_version_explanation_matches_the_rule() {
    let source = five_vm_with(&[("/rabbitmq/version", json!("9.9"))]);
    let d = rmqgen::diagnose(&source);
    let hint = d
        .iter()
        .find(|d| d.code == Code::Version)
        .unwrap()
        .hint
        .clone();
    assert!(hint.unwrap().contains("4.3"));
    assert!(Code::Version
        .explanation()
        .contains("3.10 (Debian 12) to 4.3"));
}

/// Regression (found by these tests, now fixed): `"password": null` is reported as "a secret is written inline"
/// (RMQ003): the classification in `lib.rs::parse` matches any data error
/// that mentions SecretSource. Nothing was written inline; the field is
/// just missing a source. Fix: classify only strings/numbers as inline.
#[test]
fn regression_null_password_is_not_an_inline_secret() {
    let source = five_vm_with(&[("/rabbitmq/users/0/password", Value::Null)]);
    let d = rmqgen::diagnose(&source);
    assert_eq!(d.iter().next().unwrap().code, Code::Shape, "{d}");
}

/// Regression (found by these tests, now fixed): serde's derived `Deserialize` accepts a JSON array in place of any
/// struct (fields by position), so `[null, "rmq-prod", null, {...}, ...]`
/// is a valid spec and `"network": ["192.168.247.0/24", ...]` is accepted,
/// although the schema says `"type": "object"` and the crate promises to be
/// strict about shape. Validation pointers then name paths that do not
/// exist in the document (the locations fall back to line 1, column 1).
/// Fix: before the typed parse, reject arrays where the schema expects an
/// object (walk `rmqgen::schema()` over a `serde_json::Value`), or route
/// `deserialize_struct` to `deserialize_map` in a deserializer adapter.
#[test]
fn regression_positional_arrays_are_rejected() {
    let doc = five_vm();
    let order = [
        "$schema",
        "name",
        "domain",
        "network",
        "vip",
        "rabbitmq",
        "brokers",
        "load_balancers",
        "haproxy",
        "keepalived",
        "provisioning",
        "target",
    ];
    let positional: Vec<Value> = order
        .iter()
        .map(|k| doc.get(*k).cloned().unwrap_or(Value::Null))
        .collect();
    let whole = serde_json::to_string(&positional).unwrap();

    let mut nested = doc.clone();
    let n = nested["network"].clone();
    nested["network"] = json!([n["cidr"], n["gateway"], n["dns"], n["interface"], null]);
    let nested = serde_json::to_string_pretty(&nested).unwrap();

    for (what, source) in [("top level", whole), ("network", nested)] {
        let d = rmqgen::diagnose(&source);
        assert!(
            d.iter()
                .any(|d| d.severity == Severity::Error && d.code == Code::Shape),
            "{what}: an array was accepted as an object:\n{d}"
        );
    }
}

/// Every OS x install source x series: RMQ104 exactly where the source
/// cannot give the series (the fact sheet's matrix, written out here rather
/// than read from rmqgen's table), always with a pointer and a hint.
#[test]
fn every_os_source_and_series_combination_is_judged() {
    let distro: &[(&str, &str)] = &[
        ("debian-12", "3.10"),
        ("debian-13", "4.0"),
        ("ubuntu-24.04", "3.12"),
    ];
    let team = |os: &str, series: &str| {
        let newer_than = |min: (u32, u32)| {
            let (a, b) = series.split_once('.').unwrap();
            (a.parse::<u32>().unwrap(), b.parse::<u32>().unwrap()) >= min
        };
        match os {
            "debian-13" => newer_than((4, 0)),
            _ => newer_than((3, 13)),
        }
    };
    let all_series = ["3.10", "3.11", "3.12", "3.13", "4.0", "4.1", "4.2", "4.3"];
    let mut refused = 0;
    for os in ["debian-12", "debian-13", "ubuntu-22.04", "ubuntu-24.04"] {
        for source in ["distro", "team-rabbitmq"] {
            for series in all_series {
                let mut doc: Value = serde_json::from_str(&rmqgen::reference_spec()).unwrap();
                doc["os"] = json!(os);
                doc["rabbitmq"]["version"] = json!(series);
                doc["rabbitmq"]["install"] = json!({ "from": source });
                doc["rabbitmq"]["queue_ha"] = json!({ "mode": "quorum" });
                let d = diagnose("matrix", &doc.to_string());
                let found: Vec<_> = d.iter().filter(|d| d.code == Code::InstallSeries).collect();
                let possible = match source {
                    "distro" => distro.contains(&(os, series)),
                    _ => team(os, series),
                };
                let at = format!("{os} {source} {series}: {d}");
                assert_eq!(found.is_empty(), possible, "{at}");
                for diag in found {
                    refused += 1;
                    assert_eq!(diag.severity, Severity::Error, "{at}");
                    assert_eq!(diag.pointer, "/rabbitmq/install", "{at}");
                    assert!(diag.hint.as_deref().is_some_and(|h| !h.is_empty()), "{at}");
                }
            }
        }
    }
    // 4 releases x 8 series x 2 sources = 64; 3 distro pairs work, and 19
    // team pairs (3.13..4.3 on three releases, 4.0..4.3 on Debian 13).
    assert_eq!(refused, 64 - 3 - 19);
}
